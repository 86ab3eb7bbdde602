"""httpGet probes (pkg/probe/http/http.go, request.go NewRequestForHTTPGetAction).

200–399 is Success, except a 3xx that reached the prober (a redirect to another host, or one
without a Location) which is a Warning with the body; anything else is a Failure that names
only the status code. Transport errors and the deadline are Failures with Go's words; an error
while reading the body after the headers came is a probe *error* (DoHTTPProbe returns it).
"""

from __future__ import annotations

import asyncio
import socket
import ssl

from hitless.api.types.pod import HTTPGetAction, Probe
from hitless.kubelet.http import (
    CTL,
    SCHEME,
    URL,
    BodyError,
    ClientError,
    Exchange,
    Request,
    StreamConn,
    do,
    escape_path,
    escaped_path,
    new_request,
    redirect_checker,
    tls_context,
    tls_error_text,
    unescape,
    url_error,
)
from hitless.kubelet.ports import PortError, resolve_probe_port
from hitless.kubelet.prober.probers.base import ProbeOutcome, ProberDeps, ProbeTarget
from hitless.kubelet.prober.probers.tcp import Conn, Dialer, errno_text, join_host_port
from hitless.kubelet.prober.results import Result

_MAX_CACHED = 4096
AWAITING_HEADERS = "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
READING_BODY = "context deadline exceeded (Client.Timeout or context cancellation while reading body)"


class HTTPProber:
    def __init__(self, deps: ProberDeps) -> None:
        self._dialer = Dialer(deps.network)
        # The request of each probe, as it is the same every period: (action, request) by the
        # action's identity (kept in the entry, so a reused id cannot match), host and port.
        self._requests: dict[tuple[int, str, int], tuple[HTTPGetAction, Request]] = {}

    async def probe(self, probe: Probe, target: ProbeTarget, timeout: float) -> ProbeOutcome:
        action = probe.http_get
        assert action is not None
        try:
            port = resolve_probe_port(action.port, target.container)
        except PortError as exc:
            return ProbeOutcome(Result.UNKNOWN, error=str(exc))
        host = action.host or target.pod_ip
        key = (id(action), host, port)
        cached = self._requests.get(key)
        if cached is None or cached[0] is not action:
            if len(self._requests) >= _MAX_CACHED:
                self._requests.clear()
            url = format_url((action.scheme or "").lower() or "http", host, port, action.path or "")
            headers = [(h.name, h.value) for h in action.http_headers or []]
            cached = self._requests[key] = (action, new_request(url, headers, "probe"))
        req = cached[1]
        url = req.url
        exchange = Exchange()
        try:
            async with asyncio.timeout(timeout):
                resp = await do(self._connect, req, redirect_checker, exchange)
        except TimeoutError:
            if exchange.reading_body:
                return ProbeOutcome(Result.FAILURE, error=READING_BODY)
            return ProbeOutcome(Result.FAILURE, f"{url_error(exchange.url or url)}: {AWAITING_HEADERS}")
        except BodyError as exc:
            return ProbeOutcome(Result.FAILURE, error=str(exc))
        except ClientError as exc:
            return ProbeOutcome(Result.FAILURE, str(exc))
        body = resp.body.decode(errors="replace")
        if 200 <= resp.status < 300:
            return ProbeOutcome(Result.SUCCESS, body)
        if 300 <= resp.status < 400:
            return ProbeOutcome(Result.WARNING, f"Probe terminated redirects, Response body: {body}")
        return ProbeOutcome(Result.FAILURE, f"HTTP probe failed with statuscode: {resp.status}")

    async def _connect(self, url: URL) -> Conn | StreamConn:
        sock = await self._dialer.dial(url.hostname, url.port)
        if url.scheme == "http":
            return Conn(sock, url.host)
        return await _start_tls(sock, url)


async def _start_tls(sock: socket.socket, url: URL) -> StreamConn:
    """TLS (no certificate checks) over a connected socket, which it owns from now on."""
    try:
        reader, writer = await asyncio.open_connection(
            sock=sock, ssl=tls_context(), server_hostname=url.hostname
        )
    except ssl.SSLError as exc:
        sock.close()
        raise ClientError(tls_error_text(exc)) from exc
    except ConnectionResetError as exc:
        sock.close()
        raise ClientError("EOF") from exc
    except OSError as exc:
        sock.close()
        raise ClientError(errno_text(exc)) from exc
    except BaseException:
        sock.close()
        raise
    return StreamConn(reader, writer, join_host_port(url.hostname, url.port))


def format_url(scheme: str, host: str, port: int, path: str) -> URL:
    """request.go formatURL: url.Parse(path) under the probe's scheme and host:port; a path that
    does not parse is used as it is. Written out and parsed again (http.NewRequest), a relative
    path gains its leading slash."""
    authority = join_host_port(host, port)
    parsed = _parse_path(path)
    if parsed is None:
        escaped, query, opaque = escape_path(path.encode()), None, ""
    else:
        rest, query, opaque = parsed
        escaped = escaped_path(rest)
    if escaped and not escaped.startswith("/"):
        escaped = "/" + escaped
    return URL(scheme, authority, escaped, query, opaque)


def _parse_path(raw: str) -> tuple[str, str | None, str] | None:
    """(path, query, opaque) as url.Parse splits ``raw``; None where url.Parse fails."""
    if CTL.search(raw):
        return None
    rest, _, fragment = raw.partition("#")
    if unescape(fragment) is None or rest.startswith(":"):
        return None
    m = SCHEME.match(rest)
    if m:
        rest = rest[m.end() :]
    query: str | None = None
    if rest.endswith("?") and rest.count("?") == 1:
        rest, query = rest[:-1], ""  # ForceQuery
    elif "?" in rest:
        rest, query = rest.split("?", 1)
    if not rest.startswith("/"):
        if m:
            return "", query, rest  # "foo:bar": opaque, so the request has no host
        if ":" in rest.split("/", 1)[0]:
            return None  # first path segment in URL cannot contain colon
    if rest.startswith("//") and (m or not rest.startswith("///")):
        slash = rest.find("/", 2)  # an authority, replaced by the probe's host:port
        rest = rest[slash:] if slash >= 0 else ""
    if unescape(rest) is None:
        return None
    return rest, query, ""
