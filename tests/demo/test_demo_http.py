"""The HTTP side of a real demo app: echo, keep-alive, latency, ports and the request log."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Callable

from .helpers import DemoApp, can_connect, read_response

Start = Callable[..., DemoApp]


def test_echo_shows_pod_peer_local_and_request(demo: Start) -> None:
    app = demo(env={"POD_NAME": "web-7d4b9-abcde"})
    conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=5)
    conn.connect()
    client_port = conn.sock.getsockname()[1]
    resp = read_response(conn, "/echo?x=1", "POST", {"X-Trace": "t-1"})
    conn.close()
    assert resp.status == 200
    assert resp.headers["x-pod-name"] == "web-7d4b9-abcde"
    body = resp.json()
    assert body["pod"] == "web-7d4b9-abcde"
    assert body["peer"] == {"ip": "127.0.0.1", "port": client_port}
    assert body["local"] == {"ip": "127.0.0.1", "port": app.port}
    assert (body["method"], body["path"], body["query"]) == ("POST", "/echo", {"x": "1"})
    assert body["headers"]["x-trace"] == "t-1"  # type: ignore[index]
    assert body["pid"] == app.proc.pid
    assert app.request("/").json()["path"] == "/"
    assert app.request("/hostname").text == "web-7d4b9-abcde\n"
    assert app.request("/clientip").text.startswith("127.0.0.1:")


def test_pod_name_falls_back_to_hostname(demo: Start) -> None:
    app = demo(env={"POD_NAME": "", "HOSTNAME": "from-hostname"})
    assert app.request("/hostname").text == "from-hostname\n"


def test_keep_alive_serves_several_requests_then_honours_connection_close(demo: Start) -> None:
    app = demo()
    conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=5)
    seen = [read_response(conn, "/").json() for _ in range(3)]
    assert [b["request_on_connection"] for b in seen] == [1, 2, 3]
    assert len({b["peer"]["port"] for b in seen}) == 1  # type: ignore[index]
    last = read_response(conn, "/", headers={"Connection": "close"})
    assert last.status == 200
    assert last.headers["connection"] == "close"
    assert last.json()["request_on_connection"] == 4
    conn.close()


def test_pipelined_requests_and_http10(demo: Start) -> None:
    app = demo()
    with socket.create_connection(("127.0.0.1", app.port), timeout=5) as s:
        s.sendall(
            b"GET /hostname HTTP/1.1\r\nHost: a\r\n\r\nGET /readyz HTTP/1.1\r\nHost: a\r\n"
            b"Connection: close\r\n\r\n"
        )
        data = _read_all(s)
    assert data.count(b"HTTP/1.1 200 OK") == 2
    assert data.index(b"\r\n\r\nok\n") > data.index(b"x-pod-name")
    with socket.create_connection(("127.0.0.1", app.port), timeout=5) as s:
        s.sendall(b"GET /readyz HTTP/1.0\r\n\r\n")
        assert _read_all(s).endswith(b"\r\n\r\nok\n")  # and the server closed the connection


def _read_all(s: socket.socket) -> bytes:
    chunks = []
    while chunk := s.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_statuses_head_unknown_paths_and_bad_requests(demo: Start) -> None:
    app = demo()
    assert app.request("/?code=418").status == 418
    assert app.request("/?code=99").status == 400
    no_content = app.request("/?code=204")
    assert (no_content.status, no_content.body) == (204, b"")
    assert app.request("/?code=304").status == 304
    missing = app.request("/health")  # a probe path typo must fail, not be echoed
    assert missing.status == 404
    head = app.request("/echo", "HEAD")
    assert head.status == 200
    assert head.body == b""
    assert int(head.headers["content-length"]) > 0
    with socket.create_connection(("127.0.0.1", app.port), timeout=5) as s:
        s.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        assert _read_all(s).startswith(b"HTTP/1.1 400 ")
    assert app.request("/readyz").status == 200  # still serving


def test_latency_fixed_per_request_and_by_path(demo: Start) -> None:
    app = demo("--latency", "0.3")
    assert app.request("/").elapsed >= 0.3
    assert app.request("/hostname").elapsed >= 0.3
    assert app.request("/readyz").elapsed < 0.25  # health endpoints are not slowed by --latency
    assert app.request("/?latency=0").elapsed < 0.25
    assert app.request("/?latency=0.5").elapsed >= 0.5
    assert app.request("/readyz?latency=0.4").elapsed >= 0.4  # a probe path can ask for a slow answer
    delayed = app.request("/delay/0.4")
    assert delayed.elapsed >= 0.4
    assert delayed.json()["path"] == "/delay/0.4"
    assert app.request("/delay/soon").status == 400


def test_latency_range_and_runtime_change(demo: Start) -> None:
    app = demo("--latency", "0.1:0.2")
    times = [app.request("/").elapsed for _ in range(4)]
    assert all(0.1 <= t < 0.45 for t in times), times
    changed = app.request("/control/latency?value=0", "POST")
    assert changed.json()["latency"] == "0"
    assert app.request("/").elapsed < 0.1
    app.wait_line(r"control: latency set to 0")  # logged after the response is sent


def test_several_ports_serve_the_same_app(demo: Start) -> None:
    app = demo("--port", "0")  # with the fixture's own --port 0: two ports
    ports = app.ports(2)
    assert len(set(ports)) == 2
    assert {app.request("/hostname", port=p).status for p in ports} == {200}


def test_localhost_only_bind_is_unreachable_on_other_addresses(demo: Start) -> None:
    local_only = demo()  # --address 127.0.0.1
    assert can_connect(local_only.port, "127.0.0.1")
    assert not can_connect(local_only.port, "127.0.0.2")
    everywhere = demo("--address", "0.0.0.0", "--port", "0", listen=False)
    port = int(everywhere.wait_line(r"listening on 0\.0\.0\.0:(\d+)$").group(1))
    assert can_connect(port, "127.0.0.2")


def test_request_log_modes(demo: Start) -> None:
    app = demo("--request-log", "app")
    app.request("/readyz")
    app.request("/hostname")
    app.wait_line(r'request 127\.0\.0\.1:\d+ "GET /hostname HTTP/1\.1" 200 \d+B')
    assert "/readyz" not in app.output
    quiet = demo("--request-log", "none")
    quiet.request("/hostname")
    quiet.request("/control/readyz?state=fail", "POST")
    quiet.wait_line("control: readyz set to fail")  # phase lines stay even when requests are not logged
    assert "request " not in quiet.output


def test_port_in_use_exits_1(demo: Start) -> None:
    first = demo()
    second = demo("--address", "127.0.0.1", "--port", str(first.port), listen=False)
    assert second.wait(10) == 1
    assert "cannot listen" in second.output
