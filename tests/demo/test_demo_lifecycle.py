"""Start-up, SIGTERM modes, the drain, child processes and crashes of a real demo app."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable

import pytest

from .helpers import (
    DemoApp,
    Response,
    can_connect,
    free_port,
    pid_alive,
    read_response,
    request,
    wait_until,
)

Start = Callable[..., DemoApp]


def _in_background(port: int, path: str) -> tuple[threading.Thread, dict[str, Response | Exception]]:
    result: dict[str, Response | Exception] = {}

    def run() -> None:
        try:
            result["response"] = request("127.0.0.1", port, path, timeout=15)
        except Exception as e:  # the outcome is what the test checks
            result["response"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def _assert_in_order(app: DemoApp, *patterns: str) -> None:
    positions = [app.line_index(p) for p in patterns]
    assert positions == sorted(positions), app.output


def test_startup_delay_refuses_then_accepts(demo: Start) -> None:
    port = free_port()
    app = demo("--address", "127.0.0.1", "--port", str(port), "--startup-delay", "1", listen=False)
    app.wait_line("startup delay: listening in")
    assert not can_connect(port)
    assert app.proc.poll() is None  # running, just not listening
    assert wait_until(lambda: can_connect(port), 5)
    assert float(request("127.0.0.1", port, "/control").json()["uptime"]) >= 1.0  # type: ignore[arg-type]


def test_drain_serves_during_delay_then_finishes_in_flight_and_exits(demo: Start) -> None:
    app = demo("--shutdown-delay", "1", "--drain-timeout", "5")
    port = app.port
    idle = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    reused = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    assert read_response(idle, "/").status == 200
    assert read_response(reused, "/").status == 200
    slow, outcome = _in_background(port, "/delay/2")
    time.sleep(0.3)  # let the slow request arrive before SIGTERM
    sent = time.monotonic()
    app.signal(signal.SIGTERM)
    app.wait_line("SIGTERM received: draining")

    ready = app.request("/readyz")
    assert (ready.status, ready.headers["connection"]) == (503, "close")
    during = app.request("/")  # new connections are still accepted during --shutdown-delay
    assert (during.status, during.headers["connection"]) == (200, "close")
    assert during.json()["draining"] is True
    again = read_response(reused, "/")  # a kept-alive connection is told to go elsewhere
    assert (again.status, again.headers["connection"]) == (200, "close")

    app.wait_line(r"drain: listeners closed, 1 idle connection\(s\) closed, waiting up to 5s for 1 in-flight")
    assert time.monotonic() - sent >= 0.9
    assert not can_connect(port)
    assert idle.sock is not None
    assert idle.sock.recv(1) == b""  # the idle keep-alive connection was closed, not left hanging
    slow.join(10)
    response = outcome["response"]
    assert isinstance(response, Response), response
    assert response.status == 200
    assert app.wait(5) == 0
    assert time.monotonic() - sent >= 1.6  # it waited for the slow request
    _assert_in_order(
        app,
        "SIGTERM received: draining",
        r'"GET /readyz HTTP/1.1" 503',
        "drain: listeners closed",
        r'"GET /delay/2 HTTP/1.1" 200',
        "drain: all connections finished",
        "exit 0",
    )
    idle.close()
    reused.close()


def test_keep_alive_during_drain_closes_only_when_the_listeners_close(demo: Start) -> None:
    app = demo("--shutdown-delay", "0.8", "--keep-alive-during-drain")
    conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=5)
    assert read_response(conn, "/").status == 200
    app.signal(signal.SIGTERM)
    app.wait_line("connections kept alive")
    during = read_response(conn, "/")
    assert (during.status, during.headers.get("connection")) == (200, None)
    assert during.json()["request_on_connection"] == 2
    slow, outcome = _in_background(app.port, "/delay/1.2")  # in flight when the listeners close
    app.wait_line("drain: listeners closed, 1 idle connection")
    assert conn.sock is not None
    assert conn.sock.recv(1) == b""  # the idle kept-alive connection is closed then
    slow.join(5)
    response = outcome["response"]
    assert isinstance(response, Response), response
    assert (response.status, response.headers["connection"]) == (200, "close")
    assert app.wait(5) == 0
    conn.close()


def test_drain_timeout_drops_what_is_left(demo: Start) -> None:
    app = demo("--drain-timeout", "0.5", "--sigterm-exit-code", "143")
    slow, outcome = _in_background(app.port, "/delay/10")
    time.sleep(0.3)
    sent = time.monotonic()
    app.signal(signal.SIGTERM)
    assert app.wait(5) == 143
    assert 0.4 <= time.monotonic() - sent < 4
    app.wait_line(r"drain: timeout after 0.5s, dropping 1 connection\(s\)")
    slow.join(5)
    assert isinstance(outcome["response"], http.client.RemoteDisconnected | ConnectionError)


def test_readiness_can_stay_ok_during_the_drain(demo: Start) -> None:
    app = demo("--shutdown-delay", "5", "--keep-ready-on-sigterm")
    app.port  # noqa: B018 -- wait until listening
    app.signal(signal.SIGTERM)
    app.wait_line(r"readyz unchanged \(--keep-ready-on-sigterm\)")
    assert app.request("/readyz").status == 200


def test_sigterm_during_startup_delay_exits_without_listening(demo: Start) -> None:
    app = demo("--startup-delay", "5")
    app.wait_line("startup delay")
    app.signal(signal.SIGTERM)
    assert app.wait(5) == 0
    assert "listening on" not in app.output


def test_ignore_keeps_serving_after_sigterm(demo: Start) -> None:
    app = demo("--on-sigterm", "ignore")
    port = app.port
    app.signal(signal.SIGTERM)
    app.wait_line(r"SIGTERM received: ignored")
    app.signal(signal.SIGTERM)
    time.sleep(0.5)
    assert app.proc.poll() is None
    assert request("127.0.0.1", port, "/readyz").status == 200
    assert len(re.findall("SIGTERM received: ignored", app.output)) == 2


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--on-sigterm", "exit"], 0),
        (["--on-sigterm", "exit", "--sigterm-exit-code", "3"], 3),
        (["--on-sigterm", "default"], -signal.SIGTERM),
    ],
)
def test_exit_and_default_modes(demo: Start, args: list[str], code: int) -> None:
    app = demo(*args)
    app.port  # noqa: B018 -- wait until listening
    sent = time.monotonic()
    app.signal(signal.SIGTERM)
    assert app.wait(5) == code
    assert time.monotonic() - sent < 2


def test_sigint_exits_130(demo: Start) -> None:
    app = demo("--on-sigterm", "ignore")
    app.port  # noqa: B018
    app.signal(signal.SIGINT)
    assert app.wait(5) == 130


def test_children_get_sigterm_and_are_awaited(demo: Start) -> None:
    app = demo("--children", "2", "--child-cleanup", "0.3", "--on-sigterm", "exit")
    app.wait_line("child 1: started")
    app.wait_line("child 0: started")
    pids = [int(p) for p in re.findall(r"started child \d \(pid (\d+)\)", app.output)]
    assert len(pids) == 2
    app.signal(signal.SIGTERM)
    assert app.wait(5) == 0
    for i in (0, 1):
        _assert_in_order(
            app,
            "SIGTERM received",
            f"sending SIGTERM to child {i}",
            f"child {i}: got SIGTERM",
            f"child {i}: clean shutdown done",
            rf"child {i} \(pid \d+\) exited with code 0",
            "exit 0",
        )
    assert not any(pid_alive(p) for p in pids)


def test_orphaned_children_never_finish_their_cleanup(demo: Start) -> None:
    app = demo("--children", "1", "--orphan-children", "--on-sigterm", "exit")
    app.wait_line("child 0: started")
    pid = int(app.wait_line(r"started child 0 \(pid (\d+)\)").group(1))
    app.signal(signal.SIGTERM)
    assert app.wait(5) == 0
    assert wait_until(lambda: not pid_alive(pid), 3)
    assert "leaving 1 child(ren) without a signal" in app.output
    assert "got SIGTERM" not in app.output


def test_drain_stops_children_after_the_requests_and_logs_an_unexpected_death(demo: Start) -> None:
    app = demo("--children", "2", "--child-cleanup", "0.2")
    killed = int(app.wait_line(r"started child 0 \(pid (\d+)\)").group(1))
    app.wait_line("child 1: started")
    os.kill(killed, signal.SIGKILL)
    app.wait_line(r"child 0 \(pid \d+\) killed by signal 9 \(unexpectedly\)")
    app.signal(signal.SIGTERM)
    assert app.wait(5) == 0
    _assert_in_order(
        app,
        "drain: all connections finished",
        "sending SIGTERM to child 1",
        "child 1: clean shutdown done",
        "exit 0",
    )
    assert "sending SIGTERM to child 0" not in app.output


def test_exit_after_exits_with_the_code(demo: Start) -> None:
    app = demo("--exit-after", "0.5", "--exit-code", "7")
    assert app.wait(5) == 7
    app.wait_line(r"exiting with code 7: --exit-after 0\.5s")


def test_exit_endpoint_answers_then_exits(demo: Start) -> None:
    app = demo()
    response = app.request("/exit?code=5")
    assert (response.status, response.text) == (200, "exiting with code 5\n")
    assert app.wait(5) == 5
    assert demo().request("/exit?code=300").status == 400


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--pid", "--fork", "true"], capture_output=True, timeout=10)
    return probe.returncode == 0


@pytest.mark.skipif(not _unshare_works(), reason="needs unshare --pid (root or user namespaces)")
def test_as_pid_1_the_kernel_ignores_sigterm_without_a_handler(demo: Start) -> None:
    """The reason --on-sigterm default and ignore exist: PID 1 without a handler never sees SIGTERM."""
    prefix = ["unshare", "--pid", "--fork", "--kill-child"]
    for mode, survives in (("default", True), ("exit", False)):
        app = demo("--on-sigterm", mode, prefix=prefix)
        app.wait_line(r"pid 1 \(PID 1 of its PID namespace\)")
        port = app.port
        with open(f"/proc/{app.proc.pid}/task/{app.proc.pid}/children") as f:
            (pid1,) = map(int, f.read().split())
        os.kill(pid1, signal.SIGTERM)
        if survives:
            time.sleep(0.5)
            assert request("127.0.0.1", port, "/readyz").status == 200
        else:
            assert app.wait(5) == 0
