"""Bytes both ways between an accepted client socket and a connected upstream socket.

Protocol-based (no streams, no per-chunk copies beyond the transport's own), with flow control
wired across: a side whose peer cannot keep up stops reading. EOF is passed on as a half-close,
and a reset is passed on as a reset (the other transport is aborted, which sends RST), so a pod
that dies mid-request looks to the client as it would through kube-proxy's DNAT.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable

from hitless.proxy.records import ConnectionRecord


class _Side(asyncio.Protocol):
    def __init__(self, relay: Relay, name: str) -> None:
        self.relay = relay
        self.name = name
        self.transport: asyncio.Transport | None = None
        self.peer: _Side | None = None
        self.eof = False
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.pause_reading()  # until both sides exist

    def data_received(self, data: bytes) -> None:
        peer = self.peer
        if peer is None or peer.transport is None or peer.lost:
            return
        peer.transport.write(data)
        if self.name == "client":
            self.relay.record.bytes_up += len(data)
        else:
            self.relay.record.bytes_down += len(data)

    def eof_received(self) -> bool:
        self.eof = True
        self.relay.first_close(self.name)
        peer = self.peer
        if peer is not None and peer.transport is not None and not peer.lost:
            if peer.eof:
                peer.transport.close()
                return False
            if peer.transport.can_write_eof():
                peer.transport.write_eof()
        return True

    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None and not self.peer.lost:
            self.peer.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.relay.first_close(self.name)
        if isinstance(exc, ConnectionResetError | BrokenPipeError) and not self.relay.record.error:
            self.relay.record.error = f"{self.name} reset"
        peer = self.peer
        if peer is not None and peer.transport is not None and not peer.lost:
            if exc is not None:
                peer.transport.abort()
            else:
                peer.transport.close()
        self.relay.side_done()


class Relay:
    def __init__(
        self, record: ConnectionRecord, now: Callable[[], float], on_done: Callable[[], None]
    ) -> None:
        self.record = record
        self._now = now
        self._on_done = on_done
        self._open = 2

    def first_close(self, side: str) -> None:
        if not self.record.closed_by:
            self.record.closed_by = side

    def side_done(self) -> None:
        self._open -= 1
        if self._open == 0:
            self.record.closed_at = self._now()
            self._on_done()

    async def start(self, client: socket.socket, upstream: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        a = _Side(self, "client")
        b = _Side(self, "upstream")
        try:
            await loop.connect_accepted_socket(lambda: a, sock=client)
        except OSError:
            client.close()
            upstream.close()
            raise
        try:
            await loop.create_connection(lambda: b, sock=upstream)
        except OSError:
            upstream.close()
            assert a.transport is not None
            a.transport.abort()
            raise
        a.peer, b.peer = b, a
        for side, other in ((a, b), (b, a)):
            if side.lost and other.transport is not None and not other.lost:
                other.transport.close()
        for side in (a, b):
            if side.transport is not None and not side.lost:
                side.transport.resume_reading()


def reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0), as the kernel answers a connection nobody will take."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()
