"""The pod network: which sandbox owns a pod IP, and how the node dials an address.

This is the part of a cluster that CNI provides. Every pod IP lives in its own network namespace,
so the node reaches ``podIP:port`` by dialing from inside that namespace; any other address is
dialed from the engine's own namespace (the node's). hitless only ever dials loopback addresses
and pod IPs, so a manifest cannot make it send traffic off the machine.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import socket
from dataclasses import dataclass
from typing import Protocol

from hitless.runtime.cri import Redirect, RuntimeService

log = logging.getLogger(__name__)

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
# Where pod IPs come from (every runtime hands them out of this range).
POD_NETWORK = ipaddress.IPv4Network("127.244.0.0/16")


@functools.lru_cache(maxsize=1024)
def _is_loopback(host: str) -> bool:
    # Cached: a node's proxy checks its upstream address on every connection it forwards.
    try:
        return ipaddress.ip_address(host) in LOOPBACK
    except ValueError:
        return False


@functools.lru_cache(maxsize=1024)
def in_pod_network(host: str) -> bool:
    try:
        return ipaddress.ip_address(host) in POD_NETWORK
    except ValueError:
        return False


class DialError(OSError):
    pass


@dataclass(frozen=True)
class PodAttachment:
    """A pod's network as it comes up on a node (CNI ADD)."""

    ip: str
    sandbox_id: str
    node: str


class Attacher(Protocol):
    """What serves pods inside their network namespaces (the node's proxy, the cluster DNS):
    ``attach`` makes its sockets there and says which traffic goes to them; ``detach`` closes
    them when the pod's network goes."""

    async def attach(self, pod: PodAttachment) -> list[Redirect]: ...

    def detach(self, ip: str) -> None: ...


class PodNetwork:
    def __init__(self, runtime: RuntimeService) -> None:
        self._runtime = runtime
        self._by_ip: dict[str, str] = {}
        self._attachers: list[Attacher] = []

    def add_attacher(self, attacher: Attacher) -> None:
        """Its redirects come after those of attachers added before (the first match wins)."""
        self._attachers.append(attacher)

    async def attach(self, pod: PodAttachment) -> str | None:
        """Set up what serves the pod from its own namespace, before its containers start, as
        a pod's rules are in place when CNI ADD returns; the error, or None."""
        redirects: list[Redirect] = []
        for attacher in self._attachers:
            try:
                redirects += await attacher.attach(pod)
            except Exception as exc:  # the sandbox went away meanwhile, or has no network (fake)
                log.debug("pod %s: %s", pod.ip, exc)
                return str(exc)
        if not redirects:
            return None
        try:
            await self._runtime.set_sandbox_redirects(pod.sandbox_id, redirects)
        except Exception as exc:
            log.warning("pod %s: Service traffic from the pod is not redirected: %s", pod.ip, exc)
            return str(exc)
        return None

    def detach(self, ip: str) -> None:
        for attacher in self._attachers:
            attacher.detach(ip)

    async def listening_socket(self, sandbox_id: str, type: int) -> socket.socket:
        """A socket inside the pod's namespace on its loopback, at a port the kernel picks: a
        stream one listening, a datagram one bound. Never the wildcard: the pod's own servers
        bind that."""
        sock = await self._runtime.sandbox_socket(sandbox_id, socket.AF_INET, type)
        try:
            if type == socket.SOCK_STREAM:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", 0))
            if type == socket.SOCK_STREAM:
                sock.listen(4096)
        except OSError:
            sock.close()
            raise
        return sock

    def register(self, ip: str, sandbox_id: str) -> None:
        self._by_ip[ip] = sandbox_id

    def unregister(self, ip: str) -> None:
        self._by_ip.pop(ip, None)

    def sandbox_of(self, ip: str) -> str | None:
        return self._by_ip.get(ip)

    def is_gone_pod(self, ip: str) -> bool:
        """A pod IP whose sandbox is gone: nothing there answers, a connect would just hang."""
        return ip not in self._by_ip and in_pod_network(ip)

    @staticmethod
    def check_dialable(host: str, port: int) -> None:
        """Besides pod IPs, only loopback addresses are dialed: a manifest cannot make hitless
        send traffic off the machine."""
        if not _is_loopback(host):
            raise DialError(f"dial tcp {host}:{port}: hitless only dials pod IPs and 127.0.0.0/8")

    async def new_socket(self, host: str, port: int, family: int) -> socket.socket:
        """A non-blocking TCP socket to dial ``host`` from: made inside the pod's network
        namespace for a pod IP, in the engine's for a loopback address. Raises DialError for any
        other address, RuntimeError_ when the pod's sandbox is gone."""
        sandbox = self._by_ip.get(host)
        if sandbox is not None:
            return await self._runtime.sandbox_socket(sandbox, family)
        return self._node_socket(host, port, family)

    def socket_now(self, host: str, port: int, family: int) -> socket.socket | None:
        """What ``new_socket`` gives, when it can be made without waiting: for any address but a
        pod IP (whose socket the sandbox's thread makes). None for a pod IP: await ``new_socket``."""
        if host in self._by_ip:
            return None
        return self._node_socket(host, port, family)

    def _node_socket(self, host: str, port: int, family: int) -> socket.socket:
        self.check_dialable(host, port)
        return socket.socket(family, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)

    async def open_connection(
        self, host: str, port: int, timeout: float
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        sandbox = self._by_ip.get(host)
        if sandbox is not None:
            return await self._runtime.open_connection(sandbox, host, port, timeout)
        self.check_dialable(host, port)
        try:
            return await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        except TimeoutError as exc:
            raise DialError(f"dial tcp {host}:{port}: i/o timeout") from exc
