"""kube-proxy's health servers: ``/healthz`` and ``/livez`` on port 10256 of each node
(pkg/proxy/healthcheck/proxier_health.go) and one server per ``externalTrafficPolicy: Local``
LoadBalancer Service on its ``healthCheckNodePort`` (service_health.go), with the same status
codes, headers and bodies.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from hitless.clock import Clock

PROXY_HEALTHZ_PORT = 10256  # ports.ProxyHealthzPort
# kube-proxy's healthTimeout: 2 × syncPeriod (30 s).
HEALTH_TIMEOUT = 60.0

Handler = Callable[[str], tuple[int, bytes]]

_REASONS = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}


def go_time(t: datetime, monotonic: float | None) -> str:
    """``time.Time.String()``: what ``%q`` prints for the times in /healthz."""
    if t == datetime.min.replace(tzinfo=UTC):
        return "0001-01-01 00:00:00 +0000 UTC"
    t = t.astimezone(UTC)
    text = t.strftime("%Y-%m-%d %H:%M:%S")
    if t.microsecond:
        text += f".{t.microsecond:06d}".rstrip("0")
    text += " +0000 UTC"
    if monotonic is not None:
        whole = int(monotonic)
        text += f" m=+{whole}.{round((monotonic - whole) * 1e9):09d}"
    return text


class ProxierHealth:
    """The proxier health state: healthy unless an update has been queued for longer than
    ``HEALTH_TIMEOUT`` without a sync applying it."""

    def __init__(self, clock: Clock, node_eligible: Callable[[], bool] = lambda: True) -> None:
        self._clock = clock
        self._node_eligible = node_eligible
        self.oldest_pending: float | None = None
        self.last_updated: float | None = None

    def queued(self) -> None:
        if self.oldest_pending is None:
            self.oldest_pending = self._clock.now()

    def updated(self) -> None:
        self.oldest_pending = None
        self.last_updated = self._clock.now()

    def is_healthy(self) -> bool:
        return self.oldest_pending is None or self._clock.now() - self.oldest_pending < HEALTH_TIMEOUT

    def _times(self, healthy: bool) -> tuple[str, str]:
        now = self._clock.now()
        current = go_time(self._clock.wall(), now)
        if healthy:
            return current, current  # "lastUpdated" reads as now on 200, for compatibility
        if self.last_updated is None:
            return go_time(datetime.min.replace(tzinfo=UTC), None), current
        return go_time(self._clock.wall_at(self.last_updated), self.last_updated), current

    def healthz(self, path: str) -> tuple[int, bytes]:
        if path.split("?")[0] == "/livez":
            healthy = self.is_healthy()
            last, current = self._times(healthy)
            body = f'{{"lastUpdated": "{last}","currentTime": "{current}"}}'
            return (200 if healthy else 503), body.encode()
        if path.split("?")[0] != "/healthz":
            return 404, b"404 page not found\n"
        eligible = self._node_eligible()
        healthy = self.is_healthy() and eligible
        last, current = self._times(healthy)
        body = (
            f'{{"lastUpdated": "{last}","currentTime": "{current}", "nodeEligible": {str(eligible).lower()}}}'
        )
        return (200 if healthy else 503), body.encode()


def service_health_body(namespace: str, name: str, count: int, proxy_healthy: bool) -> bytes:
    """hcHandler.ServeHTTP's body, byte for byte (a dedented, tab-indented template)."""
    return (
        f'{{\n\t"service": {{\n\t\t"namespace": "{namespace}",\n\t\t"name": "{name}"\n\t}},\n'
        f'\t"localEndpoints": {count},\n\t"serviceProxyHealthy": {str(proxy_healthy).lower()}\n}}'
    ).encode()


async def serve_http(conn: socket.socket, handler: Handler, clock: Clock) -> None:
    """Answer HTTP/1.1 requests on an accepted socket until the client closes (keep-alive)."""
    try:
        reader, writer = await asyncio.open_connection(sock=conn)
    except OSError:
        conn.close()
        return
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            parts = request_line.split(" ")
            path = parts[1] if len(parts) >= 2 else "/"
            status, body = handler(path)
            content_type = b"text/plain; charset=utf-8" if status == 404 else b"application/json"
            date = format_datetime(clock.wall().astimezone(UTC) + timedelta(0), usegmt=True)
            writer.write(
                b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nX-Content-Type-Options: nosniff\r\n"
                b"Date: %s\r\nContent-Length: %d\r\n\r\n%s"
                % (status, _REASONS[status].encode(), content_type, date.encode(), len(body), body)
            )
            await writer.drain()
            if b"connection: close" in head.lower():
                break
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, OSError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
