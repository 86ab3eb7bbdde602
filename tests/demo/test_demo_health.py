"""Health endpoints of a real demo app: schedules over time, hangs, and the control endpoint."""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Callable

from .helpers import DemoApp, request

Start = Callable[..., DemoApp]


def _runs(samples: list[tuple[float, int]]) -> list[tuple[int, float]]:
    """Collapse (uptime, status) samples into the statuses in order, each with its first uptime."""
    runs: list[tuple[int, float]] = []
    for uptime, status in samples:
        if not runs or runs[-1][0] != status:
            runs.append((status, uptime))
    return runs


def test_health_schedules_change_answers_over_time(demo: Start) -> None:
    app = demo("--startupz", "ok-after:1", "--healthz", "fail-for:1@1.2", "--readyz", "fail-after:1.8")
    port = app.port
    samples: dict[str, list[tuple[float, int]]] = {"startupz": [], "healthz": [], "readyz": []}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        uptime = float(request("127.0.0.1", port, "/control").json()["uptime"])  # type: ignore[arg-type]
        for name in samples:
            samples[name].append((uptime, request("127.0.0.1", port, f"/{name}").status))
        if uptime > 2.8:
            break
        time.sleep(0.05)
    startup, liveness, readiness = (_runs(samples[n]) for n in ("startupz", "healthz", "readyz"))
    assert [s for s, _ in startup] == [503, 200], startup
    assert [s for s, _ in liveness] == [200, 503, 200], liveness
    assert [s for s, _ in readiness] == [200, 503], readiness
    # Uptimes count from process start. Each sample's uptime is read just before its requests, so a
    # change shows up to one request later than its time: lower bounds have slack too.
    assert 0.9 <= startup[1][1] < 1.5
    assert 1.1 <= liveness[1][1] < 1.7
    assert 2.1 <= liveness[2][1] < 2.7
    assert 1.7 <= readiness[1][1] < 2.3
    assert request("127.0.0.1", port, "/started").status == 200
    assert request("127.0.0.1", port, "/livez").status == 200
    assert request("127.0.0.1", port, "/readyz").text == "readyz failing: fail-after:1.8\n"


def _hangs(port: int, path: str, wait: float = 0.8) -> bool:
    """True if the request gets no answer in ``wait`` s while the connection stays open."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        try:
            data = s.recv(1024)
        except TimeoutError:
            return True
        assert data, "the connection was closed without an answer, not held open"
        return False


def test_hang_holds_the_connection_without_answering(demo: Start) -> None:
    app = demo("--healthz", "hang", "--readyz", "hang-after:0.5")
    assert _hangs(app.port, "/healthz")
    assert _hangs(app.port, "/livez")
    assert app.request("/hostname").status == 200  # only that endpoint hangs, not the app
    time.sleep(0.6)
    assert _hangs(app.port, "/readyz")
    app.wait_line(r'"GET /healthz HTTP/1\.1" hanging: will never answer')
    # An http.client probe with a timeout sees exactly what the kubelet sees: a timeout.
    conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=0.5)
    try:
        conn.request("GET", "/healthz")
        raised = False
        try:
            conn.getresponse()
        except TimeoutError:
            raised = True
        assert raised
    finally:
        conn.close()


def test_control_endpoint_flips_health_at_run_time(demo: Start) -> None:
    app = demo("--readyz", "fail")
    assert app.request("/readyz").status == 503
    flipped = app.request("/control/readyz?state=ok", "POST")
    assert flipped.status == 200
    assert flipped.json()["health"]["readyz"] == {  # type: ignore[index]
        "state": "ok",
        "because": "set by /control",
        "spec": "fail",
        "override": "ok",
    }
    assert app.request("/readyz").status == 200
    assert app.request("/control/healthz?state=fail", "POST").status == 200
    assert app.request("/healthz").status == 503
    assert app.request("/livez").text == "healthz failing: set by /control\n"
    assert app.request("/control/livez?state=hang", "POST").status == 200  # the alias names the same
    assert _hangs(app.port, "/healthz")
    assert app.request("/control/started?state=fail", "POST").status == 200
    assert app.request("/startupz").status == 503
    assert app.request("/control/readyz?state=auto", "POST").status == 200
    assert app.request("/readyz").status == 503  # back to its spec: fail
    snapshot = app.request("/control").json()
    assert snapshot["health"]["healthz"]["override"] == "hang"  # type: ignore[index]
    # Mistakes are refused, not silently applied.
    assert app.request("/control/readyz?state=fail", "GET").status == 405
    assert app.request("/control/readyz?state=maybe", "POST").status == 400
    assert app.request("/control/nothing?state=ok", "POST").status == 404
    assert app.request("/control/latency?value=-1", "POST").status == 400
    app.wait_line("control: readyz back to its spec fail")
    order = [
        app.line_index(p)
        for p in (
            "control: readyz set to ok",
            "control: healthz set to fail",
            "control: healthz set to hang",
            "control: readyz back to its spec",
        )
    ]
    assert order == sorted(order)
