"""A frontend's listening socket, in one of three states, as a client meets kube-proxy's rules.

- ``route``: listening and accepting; each accepted socket goes to ``on_accept``.
- ``refuse``: no socket at all, so the kernel answers a SYN with RST and the client gets
  ECONNREFUSED, as from iptables' REJECT.
- ``drop``: a socket that listens with a backlog of 0 whose one queue slot is taken by a
  connection of our own that is never accepted. The kernel then drops every client SYN (accept
  queue overflow) without answering; the client retransmits and its connect times out, as
  behind iptables' DROP. A retransmitted SYN that arrives after the frontend went back to
  ``route`` connects, as it would once the rules change.

Switching replaces the socket: the new one is bound (SO_REUSEPORT) before the old one is closed,
so no SYN meets a closed port in between; the filler connects once the old socket is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable

from hitless.proxy.selection import Mode

log = logging.getLogger(__name__)

Accept = Callable[[socket.socket, tuple[str, int]], None]


def _bind(ip: str, port: int, backlog: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
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
        self.error: str = ""

    @property
    def address(self) -> tuple[str, int]:
        return (self.ip, self.port)

    def set_mode(self, mode: Mode) -> None:
        if not self._bind_enabled:
            self.mode = mode
            return
        if mode == self.mode and (mode == "refuse" or self._sock is not None):
            return
        old, old_filler = self._sock, self._filler
        self._sock = self._filler = None
        new: socket.socket | None = None
        if mode != "refuse":
            try:
                new = _bind(self.ip, self.port, self._backlog if mode == "route" else 0)
                self.error = ""
            except OSError as exc:
                self.error = f"listen tcp {self.ip}:{self.port}: {exc.strerror or exc}"
                log.warning("%s", self.error)
        self._close(old, old_filler)
        self.mode = mode
        if new is None:
            return
        self._sock = new
        if self.port == 0:  # an ephemeral port: from now on this listener keeps it
            self.port = new.getsockname()[1]
        if mode == "route":
            asyncio.get_running_loop().add_reader(new.fileno(), self._accept_ready)
        else:
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError, InterruptedError):
                filler.connect((self.ip, self.port))
            self._filler = filler

    def _accept_ready(self) -> None:
        sock = self._sock
        if sock is None:
            return
        for _ in range(64):  # a burst at a time, then let other callbacks run
            try:
                conn, addr = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("accept on %s:%s: %s", self.ip, self.port, exc)
                return
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.on_accept(conn, addr)

    def _close(self, sock: socket.socket | None, filler: socket.socket | None) -> None:
        if sock is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(sock.fileno())
            sock.close()
        if filler is not None:
            filler.close()

    def close(self) -> None:
        self._close(self._sock, self._filler)
        self._sock = self._filler = None
        self.mode = "refuse"
