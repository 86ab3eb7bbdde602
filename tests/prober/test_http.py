"""httpGet probes against real servers on 127.0.0.1: what they send, and how answers are judged."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hitless.kubelet.prober.probers.base import ProbeOutcome, ProberDeps
from hitless.kubelet.prober.probers.http import HTTPProber
from hitless.kubelet.prober.results import Result

from .conftest import probe, target
from .servers import HANG, RawServer, Seen, response

AWAITING = "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"


async def run(
    deps: ProberDeps, timeout: float = 2.0, container: dict[str, Any] | None = None, **http: Any
) -> ProbeOutcome:
    return await HTTPProber(deps).probe(probe(httpGet=http), target(container), timeout)


def ok(body: bytes = b"ok") -> Callable[[Seen], bytes]:
    return lambda seen: response(200, body)


async def test_statuses(deps: ProberDeps, server: Callable[..., Any]) -> None:
    for status, expected in [
        (200, ProbeOutcome(Result.SUCCESS, "fine")),
        (204, ProbeOutcome(Result.SUCCESS, "")),
        (302, ProbeOutcome(Result.WARNING, "Probe terminated redirects, Response body: fine")),
        (399, ProbeOutcome(Result.WARNING, "Probe terminated redirects, Response body: fine")),
        (101, ProbeOutcome(Result.FAILURE, "HTTP probe failed with statuscode: 101")),
        (400, ProbeOutcome(Result.FAILURE, "HTTP probe failed with statuscode: 400")),
        (503, ProbeOutcome(Result.FAILURE, "HTTP probe failed with statuscode: 503")),
    ]:
        srv: RawServer = await server(lambda seen, s=status: response(s, b"" if s == 204 else b"fine"))
        assert await run(deps, port=srv.port, path="/healthz") == expected, status


async def test_request_as_go_writes_it(deps: ProberDeps, server: Callable[..., Any]) -> None:
    srv = await server(ok())
    assert (await run(deps, port=srv.port, path="/healthz?verbose=1")).result is Result.SUCCESS
    (seen,) = srv.seen
    assert (seen.method, seen.target) == ("GET", "/healthz?verbose=1")
    assert seen.headers == [
        ("Host", f"127.0.0.1:{srv.port}"),
        ("User-Agent", "kube-probe/1.34"),
        ("Accept", "*/*"),
        ("Connection", "close"),
    ]


async def test_each_probe_sends_its_own_request_every_period(
    deps: ProberDeps, server: Callable[..., Any]
) -> None:
    # One prober serves every worker of a kubelet and keeps each probe's request from period to
    # period: a probe must never be sent with another's path, headers or address.
    srv, other = await server(ok()), await server(ok())
    prober = HTTPProber(deps)
    a = probe(httpGet={"path": "/a", "port": srv.port, "httpHeaders": [{"name": "X-Probe", "value": "a"}]})
    b = probe(httpGet={"path": "/b", "port": srv.port})
    c = probe(httpGet={"path": "/a", "port": other.port})
    for spec in (a, b, a, c, a):
        assert (await prober.probe(spec, target(), 2.0)).result is Result.SUCCESS
    assert [s.target for s in srv.seen] == ["/a", "/b", "/a", "/a"]
    assert [dict(s.headers).get("X-Probe") for s in srv.seen] == ["a", None, "a", "a"]
    assert [s.target for s in other.seen] == ["/a"]
    # The same action against another pod IP (a new instance of the pod) is dialed there.
    assert (await prober.probe(a, target(pod_ip="127.0.0.2"), 2.0)).result is Result.FAILURE


async def test_user_headers_sorted_repeated_and_overriding(
    deps: ProberDeps, server: Callable[..., Any]
) -> None:
    srv = await server(ok())
    headers = [
        {"name": "x-zeta", "value": "1"},
        {"name": "X-Custom", "value": "a"},
        {"name": "Host", "value": "example.com"},
        {"name": "x-custom", "value": "b"},
        {"name": "Accept", "value": "application/json"},
        {"name": "X-Empty", "value": ""},
    ]
    await run(deps, port=srv.port, path="/", httpHeaders=headers)
    assert srv.seen[0].headers == [
        ("Host", "example.com"),
        ("User-Agent", "kube-probe/1.34"),
        ("Accept", "application/json"),
        ("X-Custom", "a"),
        ("X-Custom", "b"),
        ("X-Empty", ""),
        ("X-Zeta", "1"),
        ("Connection", "close"),
    ]


async def test_an_empty_value_removes_a_default(deps: ProberDeps, server: Callable[..., Any]) -> None:
    srv = await server(ok())
    headers = [{"name": "Accept", "value": ""}, {"name": "User-Agent", "value": ""}]
    await run(deps, port=srv.port, path="/", httpHeaders=headers)
    assert srv.seen[0].headers == [("Host", f"127.0.0.1:{srv.port}"), ("Connection", "close")]
    await run(deps, port=srv.port, path="/", httpHeaders=[{"name": "user-agent", "value": "mine"}])
    assert srv.seen[1].header("User-Agent") == ["mine"]


async def test_paths_as_url_parse_reads_them(deps: ProberDeps, server: Callable[..., Any]) -> None:
    srv = await server(ok())
    for path, sent in [
        ("", "/"),
        ("healthz", "/healthz"),
        ("/a b/ü", "/a%20b/%C3%BC"),
        ("/x%2Fy?q=1#frag", "/x%2Fy?q=1"),
        ("/bad%zz?x", "/bad%25zz%3Fx"),  # does not parse: the whole string is the path
        ("//elsewhere/p", "/p"),  # an authority in the path is replaced by the probe's
        ("/ask?", "/ask?"),
    ]:
        await run(deps, port=srv.port, path=path)
        assert srv.seen[-1].target == sent, path


async def test_a_path_that_is_an_opaque_url_has_no_host(deps: ProberDeps) -> None:
    assert await run(deps, port=80, path="mailto:x") == ProbeOutcome(
        Result.FAILURE, 'Get "http:x": http: no Host in request URL'
    )


async def test_named_port_and_unknown_name(deps: ProberDeps, server: Callable[..., Any]) -> None:
    srv = await server(ok())
    container = {"ports": [{"name": "web", "containerPort": srv.port}]}
    assert (await run(deps, container=container, port="web", path="/")).result is Result.SUCCESS
    assert await run(deps, container=container, port="metrics", path="/") == ProbeOutcome(
        Result.UNKNOWN, error='strconv.Atoi: parsing "metrics": invalid syntax'
    )


async def test_refused(deps: ProberDeps, free_port: int) -> None:
    url, addr = f"http://127.0.0.1:{free_port}/healthz", f"127.0.0.1:{free_port}"
    assert await run(deps, port=free_port, path="/healthz") == ProbeOutcome(
        Result.FAILURE, f'Get "{url}": dial tcp {addr}: connect: connection refused'
    )


async def test_only_pod_ips_and_loopback_are_dialed(deps: ProberDeps) -> None:
    outcome = await run(deps, port=80, path="/", host="10.1.2.3")
    assert outcome == ProbeOutcome(
        Result.FAILURE,
        'Get "http://10.1.2.3:80/": dial tcp 10.1.2.3:80: hitless only dials pod IPs and 127.0.0.0/8',
    )


async def test_server_that_never_answers(deps: ProberDeps, server: Callable[..., Any]) -> None:
    srv = await server(lambda seen: HANG)
    started = time.monotonic()
    outcome = await run(deps, timeout=0.3, port=srv.port, path="/healthz")
    assert 0.25 < time.monotonic() - started < 2
    assert outcome == ProbeOutcome(Result.FAILURE, f'Get "http://127.0.0.1:{srv.port}/healthz": {AWAITING}')


async def test_connect_timeout(deps: ProberDeps, full_listener: int) -> None:
    outcome = await run(deps, timeout=0.3, port=full_listener, path="/")
    assert outcome == ProbeOutcome(Result.FAILURE, f'Get "http://127.0.0.1:{full_listener}/": {AWAITING}')


async def test_a_stalled_body_is_a_probe_error(deps: ProberDeps, server: Callable[..., Any]) -> None:
    srv = await server(lambda seen: b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial" + HANG)
    assert await run(deps, timeout=0.3, port=srv.port, path="/") == ProbeOutcome(
        Result.FAILURE,
        error="context deadline exceeded (Client.Timeout or context cancellation while reading body)",
    )


async def test_short_body_is_a_probe_error(deps: ProberDeps, server: Callable[..., Any]) -> None:
    srv = await server(lambda seen: b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
    assert await run(deps, port=srv.port, path="/") == ProbeOutcome(Result.FAILURE, error="unexpected EOF")


async def test_body_is_read_up_to_10_kib(deps: ProberDeps, server: Callable[..., Any]) -> None:
    big = b"x" * 30000
    srv = await server(lambda seen: response(200, big))
    outcome = await run(deps, port=srv.port, path="/")
    assert (outcome.result, len(outcome.output)) == (Result.SUCCESS, 10240)
    chunked = b"HTTP/1.1 300 Multiple\r\nTransfer-Encoding: chunked\r\n\r\n" + b"".join(
        b"%x\r\n%s\r\n" % (len(part), part) for part in (b"a" * 7000, b"b" * 7000)
    )
    srv = await server(lambda seen: chunked + b"0\r\n\r\n")
    outcome = await run(deps, port=srv.port, path="/")
    assert outcome == ProbeOutcome(
        Result.WARNING, "Probe terminated redirects, Response body: " + "a" * 7000 + "b" * 3240
    )


async def test_malformed_and_empty_answers(deps: ProberDeps, server: Callable[..., Any]) -> None:
    srv = await server(lambda seen: b"garbage\r\n\r\n")
    url = f'Get "http://127.0.0.1:{srv.port}/"'
    assert await run(deps, port=srv.port, path="/") == ProbeOutcome(
        Result.FAILURE,
        f'{url}: net/http: HTTP/1.x transport connection broken: malformed HTTP response "garbage"',
    )
    srv.handler = lambda seen: b""
    assert await run(deps, port=srv.port, path="/") == ProbeOutcome(Result.FAILURE, f"{url}: EOF")
    srv.handler = lambda seen: b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n"
    assert await run(deps, port=srv.port, path="/") == ProbeOutcome(
        Result.FAILURE, f'{url}: net/http: HTTP/1.x transport connection broken: bad Content-Length "ten"'
    )
    srv.handler = lambda seen: b"HTTP/1.1 100 Continue\r\n\r\n" + response(200, b"after")
    assert await run(deps, port=srv.port, path="/") == ProbeOutcome(Result.SUCCESS, "after")


async def test_same_host_redirects_are_followed(deps: ProberDeps, server: Callable[..., Any]) -> None:
    other = await server(ok(b"other port"))

    def redirect(seen: Seen) -> bytes:
        if seen.target == "/start":
            return response(301, b"moved", [("Location", "/next?x=1")])
        return response(307, b"", [("Location", f"http://127.0.0.1:{other.port}/final")])

    srv = await server(redirect)
    assert await run(deps, port=srv.port, path="/start") == ProbeOutcome(Result.SUCCESS, "other port")
    _, second = srv.seen
    (third,) = other.seen
    assert second.target == "/next?x=1"
    assert second.header("Referer") == [f"http://127.0.0.1:{srv.port}/start"]
    assert third.header("Referer") == [f"http://127.0.0.1:{srv.port}/next?x=1"]
    assert third.header("Host") == [f"127.0.0.1:{other.port}"]
    assert third.header("User-Agent") == ["kube-probe/1.34"]


async def test_custom_host_survives_relative_redirects_only(
    deps: ProberDeps, server: Callable[..., Any]
) -> None:
    def redirect(seen: Seen) -> bytes:
        if seen.target == "/a":
            return response(302, b"", [("Location", "/b")])
        if seen.target == "/b":
            return response(302, b"", [("Location", f"http://127.0.0.1:{srv.port}/c")])
        return response(200, b"done")

    srv = await server(redirect)
    await run(deps, port=srv.port, path="/a", httpHeaders=[{"name": "Host", "value": "vhost.example"}])
    assert [s.header("Host") for s in srv.seen] == [
        ["vhost.example"],
        ["vhost.example"],
        [f"127.0.0.1:{srv.port}"],
    ]


async def test_redirect_to_another_host_is_a_warning(deps: ProberDeps, server: Callable[..., Any]) -> None:
    srv = await server(lambda seen: response(302, b"go away", [("Location", "http://127.0.0.2:1/x")]))
    assert await run(deps, port=srv.port, path="/") == ProbeOutcome(
        Result.WARNING, "Probe terminated redirects, Response body: go away"
    )
    assert len(srv.seen) == 1


async def test_3xx_without_location_is_a_warning(deps: ProberDeps, server: Callable[..., Any]) -> None:
    srv = await server(lambda seen: response(302, b"nowhere"))
    assert await run(deps, port=srv.port, path="/") == ProbeOutcome(
        Result.WARNING, "Probe terminated redirects, Response body: nowhere"
    )


async def test_the_tenth_redirect_is_a_failure(deps: ProberDeps, server: Callable[..., Any]) -> None:
    def chain(seen: Seen, end: int) -> bytes:
        n = int(seen.target.rsplit("/", 1)[1])
        return response(200, b"end") if n == end else response(302, b"", [("Location", f"/r/{n + 1}")])

    srv = await server(lambda seen: chain(seen, 9))
    assert await run(deps, port=srv.port, path="/r/0") == ProbeOutcome(Result.SUCCESS, "end")  # 9 followed
    srv = await server(lambda seen: chain(seen, 10))
    assert await run(deps, port=srv.port, path="/r/0") == ProbeOutcome(
        Result.FAILURE, 'Get "/r/10": stopped after 10 redirects'
    )
    assert len(srv.seen) == 10


def tls_server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*certificate)
    return ctx


async def test_https_without_certificate_checks(
    deps: ProberDeps, server: Callable[..., Any], certificate: tuple[Path, Path]
) -> None:
    srv = await server(ok(b"secure"), ssl=tls_server_context(certificate))
    assert await run(deps, port=srv.port, path="/", scheme="HTTPS") == ProbeOutcome(Result.SUCCESS, "secure")
    assert srv.seen[0].header("User-Agent") == ["kube-probe/1.34"]


async def test_https_to_a_plain_http_port(deps: ProberDeps) -> None:
    async def plain_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)  # what a Go or nginx server does with a TLS hello
        writer.write(b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
        writer.close()

    srv = await asyncio.start_server(plain_http, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        outcome = await run(deps, port=port, path="/", scheme="HTTPS")
    finally:
        srv.close()
    assert outcome == ProbeOutcome(
        Result.FAILURE, f'Get "https://127.0.0.1:{port}/": http: server gave HTTP response to HTTPS client'
    )


async def test_probes_run_concurrently(deps: ProberDeps, server: Callable[..., Any]) -> None:
    srv = await server(ok())
    outcomes = await asyncio.gather(*(run(deps, port=srv.port, path=f"/{i}") for i in range(50)))
    assert {o.result for o in outcomes} == {Result.SUCCESS}
    assert len(srv.seen) == 50
