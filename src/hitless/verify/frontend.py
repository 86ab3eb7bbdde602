"""The Service under load: where its traffic enters, when it really serves, and the load
balancer's view of the nodes over time. Used by ``hitless verify`` (cli/verify.py) while it runs."""

from __future__ import annotations

import asyncio

from hitless.api.types.service import Service
from hitless.engine import Engine
from hitless.tasks import spawn
from hitless.verify.generator import LoadGenerator, LoadOptions
from hitless.verify.join import join
from hitless.verify.scenarios import ScenarioTimeout, Workload
from hitless.verify.timeline import Timeline


async def frontend(engine: Engine, service: Service, timeout: float) -> tuple[str, int]:
    """Where the load goes: the load balancer for a LoadBalancer Service, else the ClusterIP."""
    deadline = engine.clock.now() + timeout
    ns = service.namespace or "default"
    port = (service.spec.ports or [])[0].port
    while True:
        current = engine.store.get("Service", ns, service.name)
        if isinstance(current, Service):
            if service.spec.type == "LoadBalancer":
                ingress = current.status.load_balancer.ingress if current.status.load_balancer else None
                if ingress and ingress[0].ip and engine.load_balancer.healthy_nodes((ns, service.name)):
                    ports = ingress[0].ports
                    return ingress[0].ip, ports[0].port if ports else port
            elif (
                current.spec.cluster_ip and current.spec.cluster_ip != "None" and synced(engine, ns, service)
            ):
                return current.spec.cluster_ip, port
        if engine.clock.now() > deadline:
            raise ScenarioTimeout(f"Service {service.name} got no address within {timeout:.0f} s")
        await asyncio.sleep(0.05)


def synced(engine: Engine, namespace: str, service: Service) -> bool:
    """node-1's proxy (which serves the host's ClusterIP traffic) routes to some endpoint."""
    key = f"{namespace}/{service.name}"
    return any(s.service == key and s.node == "node-1" and s.used for s in engine.connections.syncs)


async def warm_up(
    engine: Engine,
    workload: Workload,
    host: str,
    port: int,
    path: str,
    request_timeout: float,
    timeout: float,
) -> bool:
    """Wait until every Ready pod of the Service has answered once through it.

    Ready is not "listening" (no readiness probe, or one on another port): the measured load
    starts from a Service that really serves, so that what fails is the scenario's doing. A few
    requests a second on fresh connections, not counted; the pod that answered each one is read
    from the hops' records, as for the load itself.
    """
    probe = LoadGenerator(
        LoadOptions(host=host, port=port, rate=20, path=path, connections="close", timeout=request_timeout),
        engine.clock,
    )
    runner = spawn("verify warm-up", probe.run())
    deadline = engine.clock.now() + timeout
    try:
        while engine.clock.now() < deadline:
            await asyncio.sleep(0.1)
            want = {
                f"{p.namespace}/{p.name}"
                for p in engine.store.pods()
                if workload.selects(p) and p.is_ready() and p.metadata.deletion_timestamp is None
            }
            done = [r for r in probe.results if r.done is not None and not r.failed]
            served = {route.pod for route in join(done, engine.connections.records)}
            if want and want <= served:
                return True
        return False
    finally:
        probe.stop()
        await runner
        await probe.cancel()


async def sample_lb(engine: Engine, service: Service, timeline: Timeline) -> None:
    """The load balancer's healthy nodes over time (it keeps no history of its own)."""
    key = (service.namespace or "default", service.name)
    while True:
        timeline.note_lb_health(engine.clock.now(), frozenset(engine.load_balancer.healthy_nodes(key)))
        await asyncio.sleep(0.05)
