"""Bytes both ways between an accepted client socket and a connected upstream socket.

Straight on the event loop's readiness callbacks (``add_reader``/``add_writer``), not transports:
a relayed chunk is one ``recv_into`` into a buffer shared by every relay of the thread and one
``send`` from it, with no object made per chunk; setting a connection up or down makes no task,
future or transport (those were most of the proxy's cost per new connection, see
docs/performance.md). Only what the peer could not take at once is copied, and the side it came
from stops being read until the peer has drained it, so a slow reader holds back a fast writer.

EOF is passed on as a half-close (``shutdown(SHUT_WR)`` once everything before it is sent), and a
reset is passed on as a reset (the other socket is closed with SO_LINGER 0, which sends RST), so a
pod that dies mid-request looks to the client as it would through kube-proxy's DNAT.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable

from hitless.proxy.records import ConnectionRecord
from hitless.tasks import report_failure

CHUNK = 64 * 1024
_LINGER_0 = b"\x01\x00\x00\x00\x00\x00\x00\x00"


class _Buffer(threading.local):
    """One receive buffer per thread (so per event loop): a chunk lives in it only from its
    ``recv_into`` to its ``send`` in the same callback."""

    def __init__(self) -> None:
        self.view = memoryview(bytearray(CHUNK))


_buffer = _Buffer()


class _End:
    """One socket of a relay; ``pending`` is what waits to be sent *to* it."""

    __slots__ = ("closed", "eof", "fd", "name", "peer", "pending", "reading", "shut", "sock")

    def __init__(self, sock: socket.socket, name: str) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.name = name
        self.peer: _End = self
        self.pending: bytes | None = None
        self.reading = False
        self.eof = False  # it sent FIN: nothing more comes from it
        self.shut = False  # we sent it FIN, or will once ``pending`` is out
        self.closed = False


class Relay:
    def __init__(
        self,
        record: ConnectionRecord,
        now: Callable[[], float],
        on_done: Callable[[], None],
        component: str = "proxy",
    ) -> None:
        self.record = record
        # Names this relay's failure to the run's supervisor (hitless.tasks).
        self.component = component
        self._now = now
        self._on_done = on_done
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: _End | None = None
        self._upstream: _End | None = None

    def start(self, client: socket.socket, upstream: socket.socket) -> None:
        """Relay until both ends are closed; then ``on_done`` (once). Both sockets non-blocking."""
        self._loop = asyncio.get_running_loop()
        a, b = _End(client, "client"), _End(upstream, "upstream")
        a.peer, b.peer = b, a
        self._client, self._upstream = a, b
        self._read(a)
        self._read(b)

    # --- readiness ----------------------------------------------------------------------------

    def _read(self, end: _End) -> None:
        if not end.reading and not end.eof and not end.closed:
            end.reading = True
            assert self._loop is not None
            self._loop.add_reader(end.fd, self._readable, end)

    def _unread(self, end: _End) -> None:
        if end.reading:
            end.reading = False
            assert self._loop is not None
            self._loop.remove_reader(end.fd)

    def _readable(self, end: _End) -> None:
        # The loop's callback: a bug here must stop the run as a task's would (tasks.py),
        # not go to the loop's handler while the run goes on. A try costs nothing until
        # it catches (3.11), unlike a wrapper's extra call per chunk.
        try:
            view = _buffer.view
            try:
                n = end.sock.recv_into(view)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._reset(end, exc)
                return
            peer = end.peer
            if n == 0:
                self._eof(end)
                return
            if end is self._client:
                self.record.bytes_up += n
            else:
                self.record.bytes_down += n
            if peer.closed:
                return
            try:
                sent = peer.sock.send(view[:n])
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                self._reset(peer, exc)
                return
            if sent < n:
                # The peer's send buffer is full: keep the rest and stop reading until it is out.
                peer.pending = bytes(view[sent:n])
                self._unread(end)
                assert self._loop is not None
                self._loop.add_writer(peer.fd, self._writable, peer)
        except Exception as exc:
            report_failure(self.component, exc)

    def _writable(self, end: _End) -> None:
        try:
            data = end.pending
            if data is None or end.closed:
                return
            try:
                sent = end.sock.send(data)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._reset(end, exc)
                return
            if sent < len(data):
                end.pending = data[sent:]
                return
            end.pending = None
            assert self._loop is not None
            self._loop.remove_writer(end.fd)
            if end.shut:
                self._shut(end)
            else:
                self._read(end.peer)
        except Exception as exc:
            report_failure(self.component, exc)

    # --- ends ---------------------------------------------------------------------------------

    def _first_close(self, end: _End) -> None:
        if not self.record.closed_by:
            self.record.closed_by = end.name

    def _eof(self, end: _End) -> None:
        """``end`` half-closed: pass the FIN on once what it sent before is out."""
        self._first_close(end)
        self._unread(end)
        end.eof = True
        peer = end.peer
        if peer.closed:
            return
        peer.shut = True
        if peer.pending is None:
            if peer.eof and end.shut and end.pending is None:
                # Both ways are over: close() sends the FIN that shutdown() would, one call fewer.
                self._close(end, linger=False)
                self._close(peer, linger=False)
                return
            self._shut(peer)

    def _shut(self, end: _End) -> None:
        """Send ``end`` our FIN; once both directions are finished, close both sockets."""
        try:
            end.sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            self._reset(end, exc)
            return
        if end.eof and end.peer.eof and end.peer.shut and end.peer.pending is None:
            self._close(end, linger=False)
            self._close(end.peer, linger=False)

    def _reset(self, end: _End, exc: OSError) -> None:
        """An error on ``end``'s socket: close it, and reset the other (a reset stays a reset)."""
        self._first_close(end)
        if isinstance(exc, ConnectionResetError | BrokenPipeError) and not self.record.error:
            self.record.error = f"{end.name} reset"
        self._close(end, linger=False)
        self._close(end.peer, linger=True)

    def _close(self, end: _End, linger: bool) -> None:
        if end.closed:
            return
        end.closed = True
        self._unread(end)
        assert self._loop is not None
        if end.pending is not None:
            end.pending = None
            self._loop.remove_writer(end.fd)
        if linger:
            reset(end.sock)
        else:
            end.sock.close()
        if end.peer.closed:
            self.record.closed_at = self._now()
            self._on_done()

    def close(self) -> None:
        """Reset both ends now (the proxy is stopping)."""
        for end in (self._client, self._upstream):
            if end is not None:
                self._first_close(end)
                self._close(end, linger=True)


def reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0), as the kernel answers a connection nobody will take."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_0)
    sock.close()
