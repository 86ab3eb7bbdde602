"""The external load balancer of ``type: LoadBalancer`` Services, modelled on the cloud L4 ones.

For each such Service it takes an address (127.0.2.N) and listens on each Service port there
(when a port cannot be bound, on an ephemeral port instead, reported in
``status.loadBalancer.ingress[0].ports`` as cloud-provider-kind does with its port mapping). Its
backends are every node, reached on the port's nodePort; like an NLB or a GCE passthrough LB it
keeps the client's source address (the upstream socket is bound to the client's IP).

It health-checks every node per Service, with a preset's interval, timeout and thresholds:
``externalTrafficPolicy: Local`` checks the Service's ``healthCheckNodePort`` (HTTP ``/healthz``,
200 healthy); ``Cluster`` checks what the cloud checks (GCE: kube-proxy's ``:10256/healthz``; AWS
NLB: a TCP connect to the traffic port). A node starts unchecked and becomes healthy after
``healthy_threshold`` successes, unhealthy after ``unhealthy_threshold`` failures. New connections
go to a random healthy node; with none healthy, to any node (both clouds fail open). Established
connections are never cut (no connection draining / termination on deregistration).

A node that drops the connection (Local, no local endpoint) never answers the load balancer's
SYN; the client, already connected to the load balancer, gets no answer either: it sees a
timeout, not a refusal. A node that refuses makes the load balancer reset the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import socket
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from hitless.api.types.service import LoadBalancerIngress, PortStatus, Service
from hitless.clock import Clock
from hitless.proxy.defaults import DEFAULT_PRESET, PRESETS, HealthCheckConfig, Preset
from hitless.proxy.forward import forward
from hitless.proxy.health import PROXY_HEALTHZ_PORT
from hitless.proxy.listener import Listener
from hitless.proxy.node import ProxyOptions
from hitless.proxy.owner import listener_owner
from hitless.proxy.records import ConnectionLog
from hitless.runtime.network import PodNetwork
from hitless.store.store import NotFound, Store, WatchEvent
from hitless.tasks import cancel_and_wait, spawn

log = logging.getLogger(__name__)

Key = tuple[str, str]


@dataclass
class NodeHealth:
    healthy: bool = False
    checked: bool = False
    successes: int = 0
    failures: int = 0
    changed_at: float = 0.0


@dataclass
class _Balanced:
    key: Key
    address: str
    signature: object
    service: Service
    listeners: list[tuple[Listener, int, int]] = field(default_factory=list)  # listener, port, nodePort
    health: dict[str, NodeHealth] = field(default_factory=dict)
    checkers: list[asyncio.Task[None]] = field(default_factory=list)


class LoadBalancer:
    def __init__(
        self,
        clock: Clock,
        store: Store,
        network: PodNetwork,
        log_: ConnectionLog,
        nodes: list[tuple[str, str]],
        preset: Preset | str = DEFAULT_PRESET,
        rng: random.Random | None = None,
        options: ProxyOptions | None = None,
        address_prefix: str = "127.0.2.",
    ) -> None:
        self.clock = clock
        self._store = store
        self._network = network
        self._log = log_
        self.nodes = nodes
        self.preset = PRESETS[preset] if isinstance(preset, str) else preset
        self._rng = rng or random.Random()
        self._options = options or ProxyOptions()
        self._prefix = address_prefix
        self.balanced: dict[Key, _Balanced] = {}
        self._addresses: dict[Key, str] = {}
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._task = spawn("load-balancer", self._watch())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        for key in list(self.balanced):
            self._teardown(key)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, component: str, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = spawn(component, coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _watch(self) -> None:
        await self._store.list_and_watch(["Service"], self._on_event)

    def _on_event(self, event: WatchEvent) -> None:
        obj = event.object
        if not isinstance(obj, Service):
            return
        key = (obj.namespace, obj.name)
        if event.type == "DELETED" or obj.spec.type != "LoadBalancer":
            self._teardown(key)
        elif not event.status_only:
            self._ensure(obj)

    # --- provisioning -------------------------------------------------------------------------

    @staticmethod
    def _signature(service: Service) -> object:
        spec = service.spec
        ports = tuple((p.port, p.node_port, p.protocol) for p in spec.ports or [])
        return (ports, spec.external_traffic_policy, spec.health_check_node_port)

    def address_of(self, key: Key) -> str:
        if key not in self._addresses:
            self._addresses[key] = f"{self._prefix}{len(self._addresses) + 1}"
        return self._addresses[key]

    def _ensure(self, service: Service) -> None:
        key = (service.namespace, service.name)
        signature = self._signature(service)
        current = self.balanced.get(key)
        if current is not None and current.signature == signature:
            current.service = service
            return
        self._teardown(key)
        balanced = _Balanced(key, self.address_of(key), signature, service)
        self.balanced[key] = balanced
        moved = False
        for port in service.spec.ports or []:
            if (port.protocol or "TCP") != "TCP" or not port.node_port:
                continue
            listener = Listener(balanced.address, port.port, self._nothing)
            listener.set_mode("route")
            if listener.mode != "route" or listener.error:
                holder = listener_owner(balanced.address, port.port) if listener.in_use else None
                log.warning(
                    "load balancer: %s%s; serving on an ephemeral port instead (in the Service's "
                    "status.loadBalancer.ingress[].ports)",
                    listener.error,
                    f"; held by {holder}" if holder else "",
                )
                listener.close()
                listener = Listener(balanced.address, 0, self._nothing)
                listener.set_mode("route")
                moved = True
            bound = (listener, port.port, port.node_port)
            listener.on_accept = functools.partial(self._accept, balanced, bound)
            balanced.listeners.append(bound)
        for name, address in self.nodes:
            balanced.health[name] = NodeHealth()
            balanced.checkers.append(
                self._spawn(f"load-balancer health check {name}", self._check_loop(balanced, name, address))
            )
        ingress = LoadBalancerIngress(ip=balanced.address, ip_mode="VIP")
        if moved:
            ingress.ports = [PortStatus(port=lis.port, protocol="TCP") for lis, _, _ in balanced.listeners]
        updated = service.copy_deep()
        updated.status.load_balancer.ingress = [ingress]
        with contextlib.suppress(NotFound):
            self._store.update_status(updated)

    @staticmethod
    def _nothing(conn: socket.socket, addr: tuple[str, int]) -> None:
        conn.close()

    def _teardown(self, key: Key) -> None:
        balanced = self.balanced.pop(key, None)
        if balanced is None:
            return
        for listener, _, _ in balanced.listeners:
            listener.close()
        for task in balanced.checkers:
            task.cancel()

    # --- health checks ------------------------------------------------------------------------

    def _target(self, balanced: _Balanced) -> tuple[HealthCheckConfig, int, str | None]:
        spec = balanced.service.spec
        if spec.external_traffic_policy == "Local" and spec.health_check_node_port:
            return self.preset.local, spec.health_check_node_port, "/healthz"
        if self.preset.cluster_target == "kube-proxy":
            return self.preset.cluster, PROXY_HEALTHZ_PORT, "/healthz"
        node_port = balanced.listeners[0][2] if balanced.listeners else 0
        return self.preset.cluster, node_port, None

    async def _check_loop(self, balanced: _Balanced, node: str, address: str) -> None:
        health = balanced.health[node]
        while True:
            config, port, path = self._target(balanced)
            ok = await self.probe(address, port, path, config.timeout)
            health.checked = True
            if ok:
                health.successes, health.failures = health.successes + 1, 0
                if not health.healthy and health.successes >= config.healthy_threshold:
                    health.healthy, health.changed_at = True, self.clock.now()
            else:
                health.failures, health.successes = health.failures + 1, 0
                if health.healthy and health.failures >= config.unhealthy_threshold:
                    health.healthy, health.changed_at = False, self.clock.now()
            await self.clock.sleep(config.interval)

    async def probe(self, address: str, port: int, path: str | None, timeout: float) -> bool:
        async def attempt() -> bool:
            reader, writer = await asyncio.open_connection(address, port)
            try:
                if path is None:
                    return True
                writer.write(
                    f"GET {path} HTTP/1.1\r\nHost: {address}:{port}\r\nConnection: close\r\n\r\n".encode()
                )
                status = await reader.readline()
                return status.split(b" ")[1:2] == [b"200"]
            finally:
                writer.close()

        task = asyncio.ensure_future(attempt())
        timer = asyncio.ensure_future(self.clock.sleep(timeout))
        try:
            await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
        if not task.done():
            task.cancel()
            return False
        try:
            return task.result()
        except (OSError, IndexError, ValueError):
            return False

    def healthy_nodes(self, key: Key) -> list[str]:
        balanced = self.balanced.get(key)
        if balanced is None:
            return []
        return [name for name, h in balanced.health.items() if h.healthy]

    # --- traffic ------------------------------------------------------------------------------

    def _accept(
        self,
        balanced: _Balanced,
        bound: tuple[Listener, int, int],
        conn: socket.socket,
        addr: tuple[str, int],
    ) -> None:
        _, port, node_port = bound
        service = balanced.service
        port_name = next((p.name or "" for p in service.spec.ports or [] if p.port == port), "")
        healthy = [n for n in self.nodes if balanced.health[n[0]].healthy] or list(self.nodes)
        node, node_address = self._rng.choice(healthy)
        record = self._log.open(
            hop="load-balancer",
            node=node,
            service=f"{balanced.key[0]}/{balanced.key[1]}",
            port_name=port_name,
            frontend="loadBalancer",
            client=(addr[0], addr[1]),
            accepted_at=self.clock.now(),
            endpoint=(node_address, node_port),
        )
        forward(
            self._network,
            self.clock,
            self._options,
            self._log,
            conn,
            node_address,
            node_port,
            addr[0],
            record,
            functools.partial(self._spawn, "load-balancer"),
            "load-balancer",
        )
