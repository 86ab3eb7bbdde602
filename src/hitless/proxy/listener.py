"""A frontend's listening socket, in one of three states, as a client meets kube-proxy's rules.

- ``route``: listening and accepting; each accepted socket goes to ``on_accept``.
- ``refuse``: no socket at all, so the kernel answers a SYN with RST and the client gets
  ECONNREFUSED, as from iptables' REJECT.
- ``drop``: the socket stays bound but stops accepting; its backlog is set to 0 and its one queue
  slot is taken by a connection of our own. The kernel then drops every client SYN (accept queue
  overflow) without answering; the client retransmits and its connect times out, as behind
  iptables' DROP. A retransmitted SYN that arrives after the frontend went back to ``route``
  connects, as it would once the rules change.

One socket per frontend, never SO_REUSEPORT: with it, any other process of the same user (another
hitless, a test) that binds the same address would silently share the frontend's connections.
``route`` and ``drop`` switch by calling listen() again with another backlog, which Linux allows
on a listening socket, so no SYN meets a closed port in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Callable

from hitless.proxy.selection import Mode
from hitless.tasks import report_failure

log = logging.getLogger(__name__)

Accept = Callable[[socket.socket, tuple[str, int]], None]


def _bind(ip: str, port: int, backlog: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # Only so that a port left in TIME_WAIT by the previous socket can be bound again.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ip, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class Listener:
    def __init__(self, ip: str, port: int, on_accept: Accept, backlog: int = 4096, bind: bool = True) -> None:
        self.ip = ip
        # Off in fake-clock tests: the state is kept, no socket is made.
        self._bind_enabled = bind
        self.port = port
        self.on_accept = on_accept
        self._backlog = backlog
        self.mode: Mode = "refuse"
        self._sock: socket.socket | None = None
        self._filler: socket.socket | None = None
        # The drop state's own connection, once closed on our side, until it is accepted.
        self._stale_filler: tuple[str, int] | None = None
        self.error: str = ""
        # The last bind failed because another socket listens there (EADDRINUSE).
        self.in_use = False

    @property
    def address(self) -> tuple[str, int]:
        return (self.ip, self.port)

    def set_mode(self, mode: Mode) -> None:
        if not self._bind_enabled:
            self.mode = mode
            return
        if mode == self.mode and (mode == "refuse" or self._sock is not None):
            return
        if mode == "refuse":
            self.close()
            return
        if self._sock is None:
            try:
                self._sock = _bind(self.ip, self.port, self._backlog)
                self.error = ""
                self.in_use = False
            except OSError as exc:
                self.error = f"listen tcp {self.ip}:{self.port}: {exc.strerror or exc}"
                self.in_use = exc.errno == errno.EADDRINUSE
                log.warning("%s", self.error)
                self.mode = mode
                return
            if self.port == 0:  # an ephemeral port: from now on this listener keeps it
                self.port = self._sock.getsockname()[1]
        sock = self._sock
        loop = asyncio.get_running_loop()
        if mode == "route":
            sock.listen(self._backlog)
            loop.add_reader(sock.fileno(), self._accept_ready)
            if self._filler is not None:
                # Its queued connection comes out of the queue like any other: _accept_ready
                # recognises it by its address and closes it.
                self._stale_filler = self._filler.getsockname()[:2]
                self._filler.close()
                self._filler = None
            self.mode = mode
            self._accept_ready()
        else:
            # What waits in the queue arrived while routing: those connections were established
            # under the old rules and are served. Then nothing more is accepted.
            self.accept_pending()
            # The queue stays readable while the filler waits in it: stop watching it.
            loop.remove_reader(sock.fileno())
            self.mode = mode
            sock.listen(0)
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError, InterruptedError):
                filler.connect((self.ip, self.port))
            self._filler = filler

    def accept_pending(self) -> None:
        """Hand every connection the kernel has established so far to ``on_accept`` now.

        Called before the rules change: those connections got through under the rules in force
        (iptables' DNAT is decided at the SYN), which the loop had not come round to accepting."""
        while self._accept_ready():
            pass

    def _accept_ready(self) -> bool:
        """Accept a burst; True when the queue may hold more."""
        sock = self._sock
        if sock is None or self.mode != "route":
            return False
        for _ in range(64):  # a burst at a time, then let other callbacks run
            try:
                conn, addr = sock.accept()
            except (BlockingIOError, InterruptedError):
                return False
            except OSError as exc:
                log.warning("accept on %s:%s: %s", self.ip, self.port, exc)
                return False
            if self._stale_filler is not None and addr[:2] == self._stale_filler:
                self._stale_filler = None
                conn.close()
                continue
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                self.on_accept(conn, addr)
            except Exception as exc:
                # A loop callback's bug stops the run, as a task's would (hitless.tasks).
                report_failure(f"proxy listener {self.ip}:{self.port}", exc)
                return False
        return True

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
        if self._filler is not None:
            self._filler.close()
        self._sock = self._filler = self._stale_filler = None
        self.mode = "refuse"
