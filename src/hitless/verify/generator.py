"""Open-loop HTTP/1.1 load at a constant rate.

Request *i* is due at ``start + i / rate`` whatever happened to the requests before it, and its
latency counts from that intended time, not from when it was actually sent: a stalled server (or a
stalled generator) shows up as latency instead of silently lowering the rate, the mistake Gil Tene
named coordinated omission. Every request records the local address of its connection, which is
how the verifier finds the proxies' records of it (``hitless.proxy.records``), and whether it
went over a reused keep-alive connection that failed before any response byte — the one failure
that browsers and Go's net/http retry on their own, so it is reported apart. Each connection's
HTTP/1.1 exchange is in httpconn.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from hitless.clock import Clock, TimerHandle
from hitless.verify.httpconn import Connection, Failure

Address = tuple[str, int]
ConnectionMode = Literal["keepalive", "close", "mixed"]
# What went wrong, when no HTTP response came back.
ErrorKind = Literal["refused", "reset", "timeout"]

# The generator's own limits, not the server's: past them it stops and says so (``overload``)
# rather than count its own exhaustion as failed requests. A request sent this late against its
# schedule means the event loop cannot keep the rate (and each late request would carry the
# delay as latency); these errors of connect() are this machine running out of descriptors,
# ports or buffers.
MAX_LATENESS = 2.0
# The requests one run keeps (each result ~250 bytes, and the proxies keep a record per hop): past
# this the generator stops, as for an overload, rather than grow without bound.
MAX_REQUESTS = 1_000_000
_OWN_EXHAUSTION = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM, errno.EADDRNOTAVAIL}


@dataclass(slots=True)
class RequestResult:
    seq: int
    # Clock seconds (``Clock.now()``): when the request was due, when its bytes were written, when
    # its outcome was known.
    intended: float
    keepalive: bool
    sent: float | None = None
    done: float | None = None
    status: int | None = None
    error: ErrorKind | None = None
    detail: str = ""
    # The local address of the connection (the first hop's record has it as ``client``).
    client: Address | None = None
    # The connection had already carried a request.
    reused: bool = False
    # Some byte of the response arrived.
    first_byte: bool = False
    # The pod that answered, when the server names it (the demo app's ``x-pod-name`` header):
    # cluster mode's exact evidence of where a keep-alive connection goes (verify/cluster.py).
    pod: str | None = None

    @property
    def outcome(self) -> str:
        """``"200"``, ``"503"``, ... or ``"refused"``, ``"reset"``, ``"timeout"``."""
        return str(self.status) if self.status is not None else (self.error or "pending")

    @property
    def failed(self) -> bool:
        return self.status is None or not 200 <= self.status < 400

    @property
    def latency(self) -> float | None:
        """Seconds from the intended send time to the outcome."""
        return None if self.done is None else self.done - self.intended

    @property
    def retryable_keepalive(self) -> bool:
        """A reused keep-alive connection failed before any response byte (clients retry those)."""
        return self.reused and not self.first_byte and self.error == "reset"


@dataclass
class LoadOptions:
    host: str
    port: int
    rate: float
    path: str = "/"
    host_header: str | None = None
    connections: ConnectionMode = "keepalive"
    # A request (connect included) that has no complete response after this long is a timeout.
    timeout: float = 3.0
    # Bind the client sockets to this local address (the "outside" client's address).
    source: str | None = None
    # Idle keep-alive connections kept for reuse; more are closed.
    max_idle: int = 256


@dataclass
class LoadGenerator:
    """Sends ``options.rate`` requests per second until :meth:`stop`; results in ``results``."""

    options: LoadOptions
    clock: Clock
    on_result: Callable[[RequestResult], None] | None = None
    results: list[RequestResult] = field(default_factory=list)
    started: float | None = None
    stopped: float | None = None
    _idle: list[Connection] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _stopping: bool = False
    _wake: asyncio.Future[None] | None = None
    # Why the generator stopped itself: it could not keep the rate on this machine.
    overload: str | None = None

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def stop(self) -> None:
        """Send nothing more; requests in flight go on (:meth:`drain` waits for them)."""
        self._stopping = True
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    async def run(self, duration: float | None = None) -> None:
        """Send at the rate until :meth:`stop` (or for ``duration`` seconds)."""
        if self.options.rate <= 0:
            raise ValueError("the request rate must be positive")
        loop = asyncio.get_running_loop()
        interval = 1.0 / self.options.rate
        start = self.started = self.clock.now()
        seq = 0
        try:
            while not self._stopping:
                intended = start + seq * interval
                if duration is not None and intended >= start + duration:
                    break
                now = self.clock.now()
                if intended > now:
                    await self._sleep(loop, intended - now)
                    continue
                if seq >= MAX_REQUESTS:
                    self._overloaded(f"{MAX_REQUESTS} requests in one run (the bound of what it keeps)")
                    break
                if now - intended > MAX_LATENESS:
                    self._overloaded(
                        f"requests went out {now - intended:.1f} s behind schedule at "
                        f"{self.options.rate:g} requests/s ({self.in_flight} in flight)"
                    )
                    break
                # Late (the loop was busy): send at once, keeping the intended time.
                result = RequestResult(seq=seq, intended=intended, keepalive=self._keepalive(seq))
                self.results.append(result)
                task = loop.create_task(self._one(result))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                seq += 1
        finally:
            self.stopped = self.clock.now()

    async def drain(self, timeout: float | None = None) -> None:
        """Wait for the requests in flight (each ends by its own timeout anyway)."""
        deadline = None if timeout is None else self.clock.now() + timeout
        while self._tasks:
            if deadline is not None and self.clock.now() >= deadline:
                break
            await asyncio.wait(set(self._tasks), timeout=0.1)
        self.close_idle()

    def close_idle(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()

    async def cancel(self) -> None:
        self.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.close_idle()

    # --- internals -------------------------------------------------------------------------------

    async def _sleep(self, loop: asyncio.AbstractEventLoop, seconds: float) -> None:
        # One future and one timer per tick, and stop() wakes it: cheaper than a task per sleep.
        fut: asyncio.Future[None] = loop.create_future()
        self._wake = fut

        def wake() -> None:
            if not fut.done():
                fut.set_result(None)

        handle = self.clock.call_later(seconds, wake)
        try:
            await fut
        finally:
            handle.cancel()
            self._wake = None

    def _overloaded(self, why: str) -> None:
        if self.overload is None:
            self.overload = why
        self.stop()

    def _keepalive(self, seq: int) -> bool:
        mode = self.options.connections
        return mode == "keepalive" or (mode == "mixed" and seq % 2 == 0)

    async def _one(self, result: RequestResult) -> None:
        # The timeout cancels this very task (one task per request, not two); uncancel() tells
        # that cancellation apart from a cancellation of the generator itself.
        task = asyncio.current_task()
        assert task is not None
        timed_out = False

        def expire() -> None:
            nonlocal timed_out
            timed_out = True
            task.cancel()

        handle: TimerHandle = self.clock.call_later(self.options.timeout, expire)
        try:
            await self._exchange(result)
        except asyncio.CancelledError:
            if not timed_out or task.uncancel() > 0:
                raise
            result.error = "timeout"
            result.detail = result.detail or (
                "no response" if result.sent is not None else "connect did not complete"
            )
        finally:
            handle.cancel()
            result.done = self.clock.now()
            if self.on_result is not None:
                self.on_result(result)

    async def _exchange(self, result: RequestResult) -> None:
        conn: Connection | None = None
        if result.keepalive:
            while self._idle:
                candidate = self._idle.pop()  # most recently used first, as Go's transport does
                if not candidate.closed:
                    conn = candidate
                    break
        if conn is not None:
            result.reused = True
        else:
            conn = await self._connect(result)
            if conn is None:
                return
        result.client = conn.local
        try:
            result.status = await conn.request(
                result, self.options.path.encode(), self._host_header(), close=not result.keepalive
            )
        except Failure as failure:
            result.error = failure.kind
            result.detail = failure.detail
            conn.abort()
            return
        except asyncio.CancelledError:
            conn.abort()
            raise
        if result.keepalive and conn.reusable and len(self._idle) < self.options.max_idle:
            self._idle.append(conn)
        else:
            conn.close()

    def _host_header(self) -> bytes:
        if self.options.host_header:
            return self.options.host_header.encode()
        return f"{self.options.host}:{self.options.port}".encode()

    async def _connect(self, result: RequestResult) -> Connection | None:
        loop = asyncio.get_running_loop()
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        except OSError as exc:
            self._overloaded(f"socket: {exc.strerror or exc} at {self.options.rate:g} requests/s")
            return None
        sock.setblocking(False)
        try:
            if self.options.source:
                sock.bind((self.options.source, 0))
            try:
                await loop.sock_connect(sock, (self.options.host, self.options.port))
            finally:
                with contextlib.suppress(OSError):
                    result.client = _address(sock.getsockname())
            conn = Connection(self.clock)
            conn.local = result.client
            await loop.create_connection(lambda: conn, sock=sock)
            return conn
        except ConnectionRefusedError as exc:
            sock.close()
            result.error, result.detail = "refused", str(exc) or "connection refused"
        except ConnectionResetError as exc:
            sock.close()
            result.error, result.detail = "reset", str(exc) or "connection reset"
        except OSError as exc:
            sock.close()
            if exc.errno in _OWN_EXHAUSTION:
                # Not the server's doing: the request is left without an outcome (not counted).
                self._overloaded(f"connect: {exc.strerror or exc} at {self.options.rate:g} requests/s")
                return None
            # Unreachable networks and the like: the connection was refused, by the network.
            result.error, result.detail = "refused", f"connect: {exc}"
        except BaseException:
            sock.close()
            raise
        return None


def _address(value: object) -> Address | None:
    if isinstance(value, tuple) and len(value) >= 2:
        return (str(value[0]), int(value[1]))
    return None
