"""The load balancer over real sockets: status, client IP kept, health checks steer new connections."""

from __future__ import annotations

import asyncio

from hitless.api.types.service import Service
from hitless.proxy.loadbalancer import HealthCheckConfig, LoadBalancer, Preset
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
