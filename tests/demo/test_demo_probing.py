"""The endpoints for testing probers: redirects, the raw request headers, and big bodies."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import pytest

from .helpers import DemoApp

Start = Callable[..., DemoApp]


@pytest.fixture(scope="module")
def shared() -> Iterator[DemoApp]:
    # One app for the read-only checks below: each start costs ~0.1 s of the demo tests' budget.
    app = DemoApp(["--address", "127.0.0.1", "--port", "0", "--tls-port", "0"])
    yield app
    app.kill()


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_redirect_codes_with_relative_and_absolute_locations(shared: DemoApp, code: int) -> None:
    relative = shared.request(f"/redirect?code={code}&to=/healthz")
    assert (relative.status, relative.headers["location"]) == (code, "/healthz")
    other_host = shared.request(f"/redirect?code={code}&to=http://other.invalid:81/x?y=1")
    assert other_host.headers["location"] == "http://other.invalid:81/x?y=1"


def test_redirect_to_same_host_other_port_and_scheme(shared: DemoApp) -> None:
    https = shared.port_of("https")
    resp = shared.request(f"/redirect?port={https}&scheme=https&to=/readyz")
    assert resp.headers["location"] == f"https://127.0.0.1:{https}/readyz"  # the Host the client used
    named = shared.request("/redirect?port=9&to=healthz", headers={"Host": "web.default:8080"})
    assert named.headers["location"] == "http://web.default:9/healthz"
    v6 = shared.request("/redirect?port=9", headers={"Host": "[::1]:8080"})
    assert v6.headers["location"] == "http://[::1]:9/"
    assert shared.request("/redirect").headers["location"] == "/"  # default: 302 to /
    assert shared.request("/redirect").status == 302


def test_redirect_without_location_and_bad_parameters(shared: DemoApp) -> None:
    bare = shared.request("/redirect?code=302&no-location=1")
    assert bare.status == 302
    assert "location" not in bare.headers
    assert shared.request("/redirect?code=200").status == 400
    assert shared.request("/redirect?scheme=ftp").status == 400
    assert shared.request("/redirect?to=/a%0d%0aSet-Cookie:x").status == 400  # no header splitting


def test_redirect_chain_counts_down_on_the_same_host(shared: DemoApp) -> None:
    path, seen = "/redirect-chain?n=11&to=/healthz%3Fx%3D1%26y%3D2&code=307", []
    while (resp := shared.request(path)).status in (301, 302, 303, 307, 308):
        seen.append(resp.status)
        path = resp.headers["location"]
        assert path.startswith("/")
    assert seen == [307] * 11  # one more than Go's client follows
    assert (resp.status, path) == (200, "/healthz?x=1&y=2")
    assert shared.request("/redirect-chain?n=0").status == 400


def test_headers_show_order_repeats_and_case(shared: DemoApp) -> None:
    with socket.create_connection(("127.0.0.1", shared.port), timeout=5) as s:
        s.sendall(
            b"GET /headers HTTP/1.1\r\nHost: pod:8080\r\nUser-Agent: kube-probe/1.34\r\n"
            b"X-Custom: one\r\nx-custom: two\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        )
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    body = data.partition(b"\r\n\r\n")[2].decode()
    assert body == (
        "Host: pod:8080\nUser-Agent: kube-probe/1.34\nX-Custom: one\nx-custom: two\nAccept: */*\n"
        "Connection: close\n"
    )
    assert shared.request("/headers?code=500").status == 500
    echo = shared.request("/echo", headers={"X-Trace": "t"}).json()
    assert echo["headers"]["x-trace"] == "t"  # type: ignore[index]  # /echo still folds names


def test_big_bodies_beyond_the_probe_limit(shared: DemoApp) -> None:
    big = shared.request("/big?size=20000")
    assert (big.status, len(big.body), big.headers["content-length"]) == (200, 20000, "20000")
    assert big.body.startswith(b"ok\n")
    assert len(shared.request("/big").body) == 65536
    assert shared.request("/big?size=0").body == b""
    head = shared.request("/big?size=1000000", "HEAD")
    assert (head.body, head.headers["content-length"]) == (b"", "1000000")
    failing = shared.request("/big?size=11000&code=503")
    assert (failing.status, len(failing.body)) == (503, 11000)
    assert shared.request(f"/big?size={(64 << 20) + 1}").status == 400
