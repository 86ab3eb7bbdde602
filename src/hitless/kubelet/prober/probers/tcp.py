"""tcpSocket probes, and the dialer every network probe uses.

The probe succeeds when a TCP connection can be opened; it is closed at once and nothing is sent
(pkg/probe/tcp/tcp.go). The dialer is probe.ProbeDialer (pkg/probe/dialer_others.go) as hitless
sees it: a pod IP is dialed from inside its sandbox's network namespace, a loopback address from
the engine's own, anything else is refused. Errors read as Go's dialer words them:
``dial tcp 127.244.0.5:8080: connect: connection refused``, ``dial tcp ...: i/o timeout``.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket

from hitless.api.types.pod import Probe
from hitless.kubelet.ports import PortError, resolve_probe_port
from hitless.kubelet.prober.probers.base import ProbeOutcome, ProberDeps, ProbeTarget
from hitless.kubelet.prober.results import Result
from hitless.runtime.cri import RuntimeError_
from hitless.runtime.network import DialError, PodNetwork


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
        # Right after a request the answer is not there yet: wait before reading, rather than
        # read, fail with EAGAIN and then wait (a system call and an exception per probe).
        self._answer_pending = False

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
        self._answer_pending = True

    async def recv(self) -> bytes:
        try:
            if self._answer_pending:
                self._answer_pending = False
                await _ready(self.sock, write=False)
            return await self._loop.sock_recv(self.sock, 65536)
        except OSError as exc:
            raise GoError(f"{self._where('read')}: read: {errno_text(exc)}") from exc

    def close(self) -> None:
        self.sock.close()


class Dialer:
    def __init__(self, network: PodNetwork) -> None:
        self._network = network

    async def dial(self, host: str, port: int) -> socket.socket:
        """A connected non-blocking socket, or GoError. No deadline of its own: the caller's
        cancels it (the socket is closed then).

        probe.ProbeDialer also sets SO_LINGER {on, 1 s}, which hitless leaves out on purpose: it
        changes nothing on the wire and only makes ``close()`` wait until the peer has
        acknowledged our FIN, which on loopback is at once, yet that wait made each probe's
        close() cost the event loop ~65 µs more (bench/bench_probes.py, docs/performance.md).
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
            await connect(sock, (host, port))
        except OSError as exc:
            sock.close()
            raise GoError(f"dial tcp {addr}: connect: {errno_text(exc)}") from exc
        except BaseException:
            sock.close()
            raise
        return sock


async def connect(sock: socket.socket, addr: tuple[str, int]) -> None:
    """``loop.sock_connect`` for a numeric address, without the loop when it can do without.

    On loopback the whole handshake, or the refusal, runs inside the ``connect()`` system call,
    though a non-blocking connect still answers EINPROGRESS; the socket's error and peer say at
    once what became of it. Only a handshake still under way (the listener's queue is full, the
    SYN waits for a retry) is waited for through the loop. Raises OSError as sock_connect does.
    """
    err = sock.connect_ex(addr)
    if err in (errno.EINPROGRESS, errno.EINTR):
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err == 0:
            try:
                sock.getpeername()
                return
            except OSError as exc:
                if exc.errno != errno.ENOTCONN:
                    raise
            await _ready(sock, write=True)
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err:
        raise OSError(err, os.strerror(err))


async def _ready(sock: socket.socket, *, write: bool) -> None:
    """Until the socket is writable (or readable), or has an error to report."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    fd = sock.fileno()
    if write:
        loop.add_writer(fd, _set_done, ready)
    else:
        loop.add_reader(fd, _set_done, ready)
    try:
        await ready
    finally:
        if write:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)


def _set_done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


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
                sock = await self._dialer.dial(host, port)
        except TimeoutError:
            return ProbeOutcome(Result.FAILURE, f"dial tcp {join_host_port(host, port)}: i/o timeout")
        except GoError as exc:
            return ProbeOutcome(Result.FAILURE, str(exc))
        sock.close()
        return ProbeOutcome(Result.SUCCESS)
