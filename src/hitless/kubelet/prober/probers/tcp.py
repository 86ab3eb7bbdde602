"""tcpSocket probes, and the dialer every network probe uses.

The probe succeeds when a TCP connection can be opened; it is closed at once and nothing is sent
(pkg/probe/tcp/tcp.go). The dialer is probe.ProbeDialer (pkg/probe/dialer_others.go) as hitless
sees it: a pod IP is dialed from inside its sandbox's network namespace, a loopback address from
the engine's own, anything else is refused. Errors read as Go's dialer words them:
``dial tcp 127.244.0.5:8080: connect: connection refused``, ``dial tcp ...: i/o timeout``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct

from hitless.api.types.pod import Probe
from hitless.kubelet.ports import PortError, resolve_probe_port
from hitless.kubelet.prober.probers.base import ProbeOutcome, ProberDeps, ProbeTarget
from hitless.kubelet.prober.results import Result
from hitless.runtime.cri import RuntimeError_
from hitless.runtime.network import DialError, PodNetwork

# SO_LINGER {on, 1 s}, as probe.ProbeDialer sets it.
LINGER_1S = struct.pack("ii", 1, 1)


class GoError(OSError):
    """A network error whose ``str()`` is Go's ``err.Error()``."""


def join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def errno_text(exc: OSError) -> str:
    """Go's syscall.Errno text: the C library's, first letter in lower case."""
    text = os.strerror(exc.errno) if exc.errno else str(exc)
    return text[:1].lower() + text[1:]


class Conn:
    """A connected non-blocking socket, read and written through the loop (no streams: cheaper)."""

    def __init__(self, sock: socket.socket, addr: str) -> None:
        self.sock = sock
        self.addr = addr
        self._loop = asyncio.get_running_loop()

    def _where(self, op: str) -> str:
        try:
            return f"{op} tcp {join_host_port(*self.sock.getsockname()[:2])}->{self.addr}"
        except OSError:
            return f"{op} tcp {self.addr}"

    async def send(self, data: bytes) -> None:
        try:
            await self._loop.sock_sendall(self.sock, data)
        except OSError as exc:
            raise GoError(f"{self._where('write')}: write: {errno_text(exc)}") from exc

    async def recv(self) -> bytes:
        try:
            return await self._loop.sock_recv(self.sock, 65536)
        except OSError as exc:
            raise GoError(f"{self._where('read')}: read: {errno_text(exc)}") from exc

    def close(self) -> None:
        self.sock.close()


class Dialer:
    def __init__(self, network: PodNetwork) -> None:
        self._network = network

    async def dial(self, host: str, port: int, *, linger: bool) -> socket.socket:
        """A connected non-blocking socket, or GoError. No deadline of its own: the caller's
        cancels it (the socket is closed then).

        ``linger``: SO_LINGER 1 s. On Linux it changes nothing on the wire; it only makes
        ``close()`` wait until the peer has acknowledged our FIN. When the peer closes first (an
        HTTP server answering ``Connection: close``) that wait is nil; when we close first (TCP and
        gRPC probes) it stalls the whole event loop, ~0.2 ms typically and milliseconds at worst,
        on every probe. So only the HTTP prober asks for it.
        """
        addr = join_host_port(host, port)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            sock = await self._network.new_socket(host, port, family)
        except RuntimeError_ as exc:  # the sandbox is gone, and its address with it
            raise GoError(f"dial tcp {addr}: {exc}") from exc
        except DialError as exc:
            raise GoError(str(exc)) from exc
        except OSError as exc:
            raise GoError(f"dial tcp {addr}: socket: {errno_text(exc)}") from exc
        try:
            if linger:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_1S)
            await asyncio.get_running_loop().sock_connect(sock, (host, port))
        except OSError as exc:
            sock.close()
            raise GoError(f"dial tcp {addr}: connect: {errno_text(exc)}") from exc
        except BaseException:
            sock.close()
            raise
        return sock


class TCPProber:
    def __init__(self, deps: ProberDeps) -> None:
        self._dialer = Dialer(deps.network)

    async def probe(self, probe: Probe, target: ProbeTarget, timeout: float) -> ProbeOutcome:
        action = probe.tcp_socket
        assert action is not None
        try:
            port = resolve_probe_port(action.port, target.container)
        except PortError as exc:
            return ProbeOutcome(Result.UNKNOWN, error=str(exc))
        host = action.host or target.pod_ip
        try:
            async with asyncio.timeout(timeout):
                sock = await self._dialer.dial(host, port, linger=False)
        except TimeoutError:
            return ProbeOutcome(Result.FAILURE, f"dial tcp {join_host_port(host, port)}: i/o timeout")
        except GoError as exc:
            return ProbeOutcome(Result.FAILURE, str(exc))
        sock.close()
        return ProbeOutcome(Result.SUCCESS)
