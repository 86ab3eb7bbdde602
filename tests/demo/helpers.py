"""Real demo-app processes on 127.0.0.1, and small HTTP helpers for the demo tests."""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable


class DemoApp:
    def __init__(self, args: list[str], env: dict[str, str] | None = None, prefix: list[str] | None = None):
        self.args = args
        full_env = {**os.environ, "PYTHONUNBUFFERED": "0", **(env or {})}
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [*(prefix or []), sys.executable, "-m", "hitless", "demo-app", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=full_env,
        )
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    @property
    def output(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def wait_line(self, pattern: str, timeout: float = 5.0) -> re.Match[str]:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for line in self.lines[seen:]:
                    if m := regex.search(line):
                        return m
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"no line matching {pattern!r} in:\n{self.output}")
                self._cond.wait(min(left, 0.1))

    def line_index(self, pattern: str) -> int:
        regex = re.compile(pattern)
        with self._cond:
            for i, line in enumerate(self.lines):
                if regex.search(line):
                    return i
        raise AssertionError(f"no line matching {pattern!r} in:\n{self.output}")

    def ports(self, count: int) -> list[int]:
        wait_until(lambda: len(re.findall(r"listening on", self.output)) >= count)
        return [int(p) for p in re.findall(r"listening on \S+:(\d+)$", self.output, re.M)]

    @property
    def port(self) -> int:
        return int(self.wait_line(r"listening on \S+:(\d+)$").group(1))

    def port_of(self, label: str) -> int:
        """The first port of a kind: ``https`` (--tls-port) or ``grpc`` (--grpc-port)."""
        return int(self.wait_line(rf"listening on \S+:(\d+) \({label}\)$").group(1))

    def request(
        self,
        path: str,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        timeout: float = 5.0,
        host: str = "127.0.0.1",
        port: int | None = None,
    ) -> Response:
        return request(host, port or self.port, path, method, headers, timeout)

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 10.0) -> int:
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._reader.join(5)


class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes, elapsed: float):
        self.status, self.headers, self.body, self.elapsed = status, headers, body, elapsed

    @property
    def text(self) -> str:
        return self.body.decode()

    def json(self) -> dict[str, object]:
        import json

        result: dict[str, object] = json.loads(self.body)
        return result


def read_response(
    conn: http.client.HTTPConnection, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> Response:
    start = time.monotonic()
    conn.request(method, path, headers=headers or {})
    resp = conn.getresponse()
    body = resp.read()
    return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body, time.monotonic() - start)


def request(
    host: str,
    port: int,
    path: str,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
) -> Response:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        return read_response(conn, path, method, headers)
    finally:
        conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def can_connect(port: int, host: str = "127.0.0.1") -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][0] != "Z"
    except FileNotFoundError:
        return False


def wait_until(check: Callable[[], bool], timeout: float = 5.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()


def cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""
