"""The cluster DNS server: kube-dns's Service address, answered by the engine inside every pod.

It learns Services and EndpointSlices through a watch, as CoreDNS does through its informers, and
answers from them (records.py, answer.py); it knows nothing of processes. A pod reaches it at the
cluster DNS address (the allocator's reserved ``.10``, as kube-dns's clusterIP) on port 53 over
UDP and TCP: each pod's network namespace has one datagram and one stream socket of the server on
its loopback, and the pod's redirects send dnsIP:53 there (runtime/linux/nat.py). With no real
CoreDNS pods behind it, these queries do not pass the node proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket

from hitless.api.types.discovery import EndpointSlice
from hitless.api.types.service import Service
from hitless.dns.answer import handle
from hitless.dns.records import ClusterView
from hitless.runtime.cri import Redirect
from hitless.runtime.network import PodAttachment, PodNetwork
from hitless.store.store import Store, WatchEvent
from hitless.tasks import cancel_and_wait, guarded, report_failure, spawn

log = logging.getLogger(__name__)

DNS_PORT = 53
# A client that sends nothing for this long over TCP is dropped (CoreDNS's read timeout is 3 s
# for the first query and 10 s between queries).
TCP_IDLE_TIMEOUT = 10.0


class ClusterDNS:
    def __init__(self, store: Store, network: PodNetwork, ip: str, zone: str = "cluster.local") -> None:
        self.ip = ip
        self.view = ClusterView(zone=zone)
        self._store = store
        self._network = network
        self._watch: asyncio.Task[None] | None = None
        self._udp: dict[str, socket.socket] = {}
        self._tcp: dict[str, asyncio.Server] = {}
        # Open TCP clients, closed with their pod (Server.close leaves them open before 3.13).
        self._clients: dict[str, set[asyncio.StreamWriter]] = {}
        self.queries = 0

    def start(self) -> None:
        self._watch = spawn("cluster-dns", self._run())

    async def stop(self) -> None:
        await cancel_and_wait(self._watch)
        for ip in list(self._udp) + list(self._tcp):
            self.detach(ip)

    async def _run(self) -> None:
        await self._store.list_and_watch(
            ["Service", "EndpointSlice"], self._received, relisted=self._relisted
        )

    def _relisted(self) -> None:
        self.view.services.clear()
        self.view.slices.clear()

    def _received(self, event: WatchEvent) -> None:
        obj = event.object
        key = (obj.namespace, obj.name)
        if isinstance(obj, Service):
            if event.type == "DELETED":
                self.view.services.pop(key, None)
            else:
                self.view.services[key] = obj
        elif isinstance(obj, EndpointSlice):
            if event.type == "DELETED":
                self.view.slices.pop(key, None)
            else:
                self.view.slices[key] = obj

    def answer(self, wire: bytes, udp: bool) -> bytes | None:
        self.queries += 1
        return handle(wire, self.view, max_size=512 if udp else None)

    # --- inside each pod (runtime.network.Attacher) ---------------------------------------------

    async def attach(self, pod: PodAttachment) -> list[Redirect]:
        udp = await self._network.listening_socket(pod.sandbox_id, socket.SOCK_DGRAM)
        try:
            tcp = await self._network.listening_socket(pod.sandbox_id, socket.SOCK_STREAM)
        except BaseException:
            udp.close()
            raise
        self.detach(pod.ip)
        self._udp[pod.ip] = udp
        asyncio.get_running_loop().add_reader(
            udp.fileno(), guarded("cluster-dns", functools.partial(self._datagrams, udp))
        )
        clients: set[asyncio.StreamWriter] = set()
        self._clients[pod.ip] = clients

        async def stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            clients.add(writer)
            try:
                await self._stream(reader, writer)
            except Exception as exc:
                # asyncio's task for the connection, not one of ours: a bug must still stop the
                # run naming its component (hitless.tasks), not go to the loop's handler.
                report_failure("cluster-dns", exc)
            finally:
                clients.discard(writer)

        self._tcp[pod.ip] = await asyncio.start_server(stream, sock=tcp)
        return [
            Redirect("udp", self.ip, DNS_PORT, udp.getsockname()[1]),
            Redirect("tcp", self.ip, DNS_PORT, tcp.getsockname()[1]),
        ]

    def detach(self, ip: str) -> None:
        udp = self._udp.pop(ip, None)
        if udp is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(udp.fileno())
            udp.close()
        server = self._tcp.pop(ip, None)
        if server is not None:
            server.close()
        for writer in self._clients.pop(ip, set()):
            writer.close()

    def _datagrams(self, sock: socket.socket) -> None:
        for _ in range(64):  # a burst at a time, then let other callbacks run
            try:
                wire, peer = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("cluster DNS: %s", exc)
                return
            reply = self.answer(wire, udp=True)
            if reply is not None:
                with contextlib.suppress(OSError):  # the client is gone, or its buffer full
                    sock.sendto(reply, peer)

    async def _stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """RFC 7766: two-byte length, message; several queries per connection."""
        try:
            while True:
                size = int.from_bytes(await asyncio.wait_for(reader.readexactly(2), TCP_IDLE_TIMEOUT), "big")
                wire = await asyncio.wait_for(reader.readexactly(size), TCP_IDLE_TIMEOUT)
                reply = self.answer(wire, udp=False)
                if reply is None:
                    return
                writer.write(len(reply).to_bytes(2, "big") + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            return
        finally:
            writer.close()
