"""The load balancer over real sockets: status, client IP kept, health checks steer new connections."""

from __future__ import annotations

import asyncio
import socket

import pytest

from hitless.api.types.service import Service
from hitless.output.services import reachability
from hitless.proxy.defaults import HealthCheckConfig, Preset
from hitless.proxy.loadbalancer import LoadBalancer
from hitless.runtime.fake import FakeRuntime
from hitless.runtime.network import PodNetwork
from tests.proxy.helpers import endpoint, endpoint_slice, service
from tests.proxy.test_routing import BACKEND_PORT, Env, dial, env  # noqa: F401  (the fixture)

FAST = Preset("test", HealthCheckConfig(0.2, 0.5, 1, 2), HealthCheckConfig(0.2, 0.5, 1, 2), "traffic-port")


async def test_local_service_behind_the_load_balancer(env: Env) -> None:  # noqa: F811
    lb = LoadBalancer(
        env.clock,
        env.store,
        PodNetwork(FakeRuntime(env.clock)),
        env.log,
        [(p.node, p.address) for p in env.proxies],
        FAST,
        address_prefix="127.0.10.",
    )
    lb.start()
    try:
        env.store.create(service("lb", "LoadBalancer", target=BACKEND_PORT, externalTrafficPolicy="Local"))
        env.store.create(endpoint_slice("lb", BACKEND_PORT, [endpoint("b", "127.250.0.3", "node-2")], "lb-x"))

        def ingress() -> str | None:
            svc = env.store.get("Service", "default", "lb")
            assert isinstance(svc, Service)
            found = svc.status.load_balancer.ingress
            return found[0].ip if found else None

        await env.until(lambda: ingress() is not None)
        assert ingress() == "127.0.10.1"
        # node-1 answers 503 on the health check node port: only node-2 stays healthy.
        await env.until(lambda: lb.healthy_nodes(("default", "lb")) == ["node-2"])
        for _ in range(5):
            reader, writer = await dial("127.0.10.1", 80, source="127.0.0.88")
            assert (await reader.readline()).decode().strip() == "127.0.0.88"  # the client IP, kept
            writer.close()
        await env.until(lambda: len([r for r in env.log.records if r.closed_at is not None]) == 10)
        lb_hops = [r for r in env.log.records if r.hop == "load-balancer"]
        assert {r.node for r in lb_hops} == {"node-2"} and all(r.outcome == "routed" for r in lb_hops)
        # The next hop's client is the load balancer's upstream address.
        proxy_clients = {r.client for r in env.log.records if r.hop == "proxy"}
        assert {r.upstream for r in lb_hops} == proxy_clients
    finally:
        await lb.stop()
        await asyncio.sleep(0)


# Asymmetric on purpose: a node turns unhealthy after 2 failed checks (~0.2-0.4 s) but healthy only
# after 5 good ones (~0.8-1 s), so each phase below has a window where only one node is healthy.
STEPS = Preset("steps", HealthCheckConfig(0.2, 0.3, 5, 2), HealthCheckConfig(0.2, 0.3, 5, 2), "traffic-port")


def _balancer(env: Env, preset: Preset, prefix: str) -> LoadBalancer:  # noqa: F811
    lb = LoadBalancer(
        env.clock,
        env.store,
        PodNetwork(FakeRuntime(env.clock)),
        env.log,
        [(p.node, p.address) for p in env.proxies],
        preset,
        address_prefix=prefix,
    )
    lb.start()
    return lb


async def test_health_thresholds_steer_new_connections_and_a_local_drop_times_out(env: Env) -> None:  # noqa: F811
    lb = _balancer(env, STEPS, "127.0.11.")
    key = ("default", "lb")
    try:
        env.store.create(service("lb", "LoadBalancer", target=BACKEND_PORT, externalTrafficPolicy="Local"))
        slice_ = env.store.create(
            endpoint_slice("lb", BACKEND_PORT, [endpoint("a", "127.250.0.2", "node-1")], "lb-x")
        )
        await env.until(lambda: lb.healthy_nodes(key) == ["node-1"], timeout=5)
        health = lb.balanced[key].health

        # The pod moves to node-2. node-1 now drops (endpoints elsewhere) and answers 503.
        moved = slice_.copy_deep()
        moved.endpoints = [endpoint("b", "127.250.0.3", "node-2")]
        env.store.update(moved)

        def local_ready(node: str, count: int, after: float = 0.0) -> float | None:
            """When ``node`` first applied ``count`` local ready endpoints after ``after``."""
            found = [s for s in env.log.syncs if s.node == node and s.local_ready == count and s.at > after]
            return found[0].at if found else None

        changed = env.clock.now()

        await env.until(lambda: local_ready("node-1", 0) is not None and local_ready("node-2", 1) is not None)
        synced_1, synced_2 = local_ready("node-1", 0, changed), local_ready("node-2", 1, changed)
        assert synced_1 is not None and synced_2 is not None
        # node-1 is still healthy to the load balancer: a client sent there gets no answer (its
        # connection is dropped behind the load balancer), not a refusal.
        assert lb.healthy_nodes(key) == ["node-1"]
        reader, writer = await dial("127.0.11.1", 80)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.readline(), 0.3)
        assert not reader.at_eof()
        writer.close()
        hung = [r for r in env.log.records if r.hop == "load-balancer"][-1]
        assert hung.node == "node-1" and hung.connected_at is None

        # Unhealthy after unhealthyThreshold failed checks, healthy after healthyThreshold good ones.
        await env.until(lambda: not health["node-1"].healthy, timeout=5)
        down = health["node-1"].changed_at - synced_1
        assert STEPS.local.interval * (STEPS.local.unhealthy_threshold - 1) - 0.05 <= down <= 0.2 * 2 + 0.4
        await env.until(lambda: health["node-2"].healthy, timeout=5)
        up = health["node-2"].changed_at - synced_2
        assert STEPS.local.interval * (STEPS.local.healthy_threshold - 1) - 0.05 <= up <= 0.2 * 5 + 0.6
        assert lb.healthy_nodes(key) == ["node-2"]
        mark = len(env.log.records)
        for _ in range(8):
            reader, writer = await dial("127.0.11.1", 80)
            assert await asyncio.wait_for(reader.readline(), 2)
            writer.close()
        assert {r.node for r in env.log.records[mark:] if r.hop == "load-balancer"} == {"node-2"}

        # The pod comes back to node-1 as well: node-1 returns after healthyThreshold good checks.
        both = moved.copy_deep()
        both.endpoints = [endpoint("a", "127.250.0.2", "node-1"), endpoint("b", "127.250.0.3", "node-2")]
        changed = env.clock.now()
        env.store.update(both)
        await env.until(lambda: local_ready("node-1", 1, changed) is not None)
        back_synced = local_ready("node-1", 1, changed)
        assert back_synced is not None
        await env.until(lambda: health["node-1"].healthy, timeout=5)
        back = health["node-1"].changed_at - back_synced
        assert STEPS.local.interval * (STEPS.local.healthy_threshold - 1) - 0.05 <= back <= 0.2 * 5 + 0.6
    finally:
        await lb.stop()
        await asyncio.sleep(0)


async def test_ingress_ports_when_the_service_port_is_taken(env: Env) -> None:  # noqa: F811
    squatter = socket.socket()
    squatter.bind(("127.0.12.1", 80))  # no SO_REUSEPORT: nobody else can listen here
    squatter.listen()
    lb = _balancer(env, STEPS, "127.0.12.")
    try:
        env.store.create(service("lb", "LoadBalancer", target=BACKEND_PORT))
        env.store.create(endpoint_slice("lb", BACKEND_PORT, [endpoint("b", "127.250.0.3", "node-2")], "lb-x"))

        def status() -> Service:
            svc = env.store.get("Service", "default", "lb")
            assert isinstance(svc, Service)
            return svc

        await env.until(lambda: bool(status().status.load_balancer.ingress))
        ingress = (status().status.load_balancer.ingress or [])[0]
        assert ingress.ip == "127.0.12.1" and ingress.ports
        [moved] = ingress.ports
        assert moved.port != 80 and moved.protocol == "TCP"
        assert f"127.0.12.1:{moved.port} (load balancer)" in reachability(status(), ["127.0.9.1"])
        await env.until(lambda: any(s.used for s in env.log.syncs if s.service == "default/lb"))
        reader, writer = await dial("127.0.12.1", moved.port)
        assert await asyncio.wait_for(reader.readline(), 2)
        writer.close()
    finally:
        await lb.stop()
        squatter.close()
        await asyncio.sleep(0)
