"""One client connection of the load generator: HTTP/1.1 (h11) over an asyncio transport, one
request at a time, keep-alive or not.

Apart from generator.py because it is the wire protocol alone: how bytes, end of file and
resets of one connection become a status or a failure kind. The generator owns the schedule
(open loop, intended times, overload) and which connection each request takes.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from typing import TYPE_CHECKING

import h11

from hitless.clock import Clock

if TYPE_CHECKING:
    # Annotations only: the generator imports this module.
    from hitless.verify.generator import Address, ErrorKind, RequestResult


class Failure(Exception):
    """A request that got no HTTP response, and why (``kind``)."""

    def __init__(self, kind: ErrorKind, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


class Connection(asyncio.Protocol):
    """One client connection: h11 over an asyncio transport, one request at a time."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._h11 = h11.Connection(our_role=h11.CLIENT)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[int] | None = None
        self._status: int | None = None
        self.pod: str | None = None
        self.first_byte = False
        self.closed = False
        self.requests = 0
        self.local: Address | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            # Bytes nobody asked for (a 408 on an idle connection): never reuse it.
            self.abort()
            return
        self.first_byte = True
        self._h11.receive_data(data)
        self._pump()

    def eof_received(self) -> bool | None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            self._h11.receive_data(b"")
            self._pump()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            self._fail_eof(exc)

    def _fail_eof(self, exc: BaseException | None) -> None:
        assert self._waiter is not None
        if isinstance(exc, ConnectionResetError) or (
            isinstance(exc, OSError) and exc.errno == errno.ECONNRESET
        ):
            detail = "connection reset by peer"
        elif exc is not None:
            detail = str(exc) or type(exc).__name__
        else:
            detail = (
                "closed before the end of the response"
                if self.first_byte
                else "closed before any response byte"
            )
        self._waiter.set_exception(Failure("reset", detail))

    def _pump(self) -> None:
        assert self._waiter is not None
        while not self._waiter.done():
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                if self.closed:
                    # The peer closed mid-response: h11 words that as a protocol error.
                    self._fail_eof(None)
                else:
                    self._waiter.set_exception(Failure("reset", f"bad response: {exc}"))
                self.abort()
                return
            if event is h11.NEED_DATA:
                return
            if isinstance(event, h11.Response):
                self._status = event.status_code
                for name, value in event.headers:
                    if name == b"x-pod-name":
                        self.pod = value.decode(errors="replace")
            elif isinstance(event, h11.EndOfMessage):
                assert self._status is not None
                self._waiter.set_result(self._status)
            elif isinstance(event, h11.ConnectionClosed):
                self._fail_eof(None)

    @property
    def reusable(self) -> bool:
        return not self.closed and self._h11.our_state is h11.DONE and self._h11.their_state is h11.DONE

    async def request(self, result: RequestResult, target: bytes, host: bytes, close: bool) -> int:
        assert self._transport is not None
        if self.requests:
            self._h11.start_next_cycle()
        self.requests += 1
        self.first_byte = False
        self._status = None
        self.pod = None
        headers = [(b"Host", host), (b"User-Agent", b"hitless-verify")]
        if close:
            headers.append((b"Connection", b"close"))
        data = self._h11.send(h11.Request(method=b"GET", target=target, headers=headers))
        data = (data or b"") + (self._h11.send(h11.EndOfMessage()) or b"")
        self._waiter = asyncio.get_running_loop().create_future()
        if self.closed:
            # The server closed the idle connection before we used it; writing would be lost.
            self._fail_eof(None)
        else:
            self._transport.write(data)
        result.sent = self._clock.now()
        try:
            status = await self._waiter
            result.pod = self.pod
            return status
        finally:
            result.first_byte = self.first_byte

    def abort(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.abort()

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()
