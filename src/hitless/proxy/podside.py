"""kube-proxy's ClusterIP rules as a pod on the node meets them, and the pod network between pods.

A pod's packets to a cluster IP pass its node's rules. Here each pod's network namespace has one
listening socket of its node's proxy, on the pod's loopback, and a redirect (runtime/linux/nat.py)
sends everything the pod sends to the service CIDR there; the socket reads where the pod meant to
go (SO_ORIGINAL_DST) and the proxy routes it by its last sync (``NodeProxy.pod_targets``) through
the same selection and forwarding as its other frontends. So a Service change reaches pods when
the node's proxy syncs, as iptables rules would, at no cost per pod: the sockets are per pod, not
per pod and Service port.

A connection to another pod's IP (a headless Service's or a StatefulSet pod's address) takes the
same socket and is dialled from inside the destination pod's namespace with the client pod's
address as its source, as the pod network would carry it: no Service, no record.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass

from hitless.proxy.selection import Mode, ProxyEndpoint
from hitless.runtime.cri import Redirect
from hitless.runtime.network import POD_NETWORK, PodAttachment, PodNetwork
from hitless.store.allocator import SERVICE_CIDR
from hitless.tasks import guarded

log = logging.getLogger(__name__)

# linux/netfilter_ipv4.h
SO_ORIGINAL_DST = 80

Address = tuple[str, int]
OnAccept = Callable[[str, socket.socket, Address, Address], None]


@dataclass(frozen=True, slots=True)
class ClusterTarget:
    service: str  # "namespace/name"
    port_name: str
    endpoints: tuple[ProxyEndpoint, ...]
    mode: Mode


def original_destination(conn: socket.socket) -> Address:
    raw = conn.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
    port, ip = struct.unpack("!2xH4s8x", raw)
    return socket.inet_ntoa(ip), port


class PodFrontends:
    """The node proxy's sockets inside its node's pods (a ``runtime.network.Attacher``)."""

    def __init__(self, node: str, network: PodNetwork, on_accept: OnAccept, listen: bool = True) -> None:
        self.node = node
        # Off in fake-clock tests, as the node's other frontends are.
        self._listen = listen
        self._network = network
        self._on_accept = on_accept
        self._sockets: dict[str, socket.socket] = {}

    async def attach(self, pod: PodAttachment) -> list[Redirect]:
        if pod.node != self.node or not self._listen:
            return []
        sock = await self._network.listening_socket(pod.sandbox_id, socket.SOCK_STREAM)
        self.detach(pod.ip)
        self._sockets[pod.ip] = sock
        asyncio.get_running_loop().add_reader(
            sock.fileno(), guarded(f"proxy {self.node}", functools.partial(self._ready, pod.ip, sock))
        )
        port = sock.getsockname()[1]
        return [
            # The pod's own address stays its own; another pod's is reached through the node
            # (CNI's job on a cluster), since in this namespace every 127.x address is local.
            Redirect("tcp", pod.ip, None, None),
            Redirect("tcp", str(POD_NETWORK), None, port),
            Redirect("tcp", str(SERVICE_CIDR), None, port),
        ]

    def detach(self, ip: str) -> None:
        sock = self._sockets.pop(ip, None)
        if sock is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(sock.fileno())
            sock.close()

    def close(self) -> None:
        for ip in list(self._sockets):
            self.detach(ip)

    def __len__(self) -> int:
        return len(self._sockets)

    def _ready(self, pod_ip: str, sock: socket.socket) -> None:
        for _ in range(64):  # a burst at a time, then let other callbacks run
            try:
                conn, addr = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("accept in pod %s: %s", pod_ip, exc)
                return
            try:
                dst = original_destination(conn)
            except OSError:  # not redirected: someone dialled the socket itself
                conn.close()
                continue
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._on_accept(pod_ip, conn, addr, dst)
