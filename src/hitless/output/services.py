"""Where each Service can be reached, printed once it is known (``hitless up`` writes it to stderr),
and the one-line text form of a node's proxy applying a change."""

from __future__ import annotations

import sys
from typing import TextIO

from hitless.api.types.service import Service
from hitless.proxy.records import ProxySync
from hitless.store.store import WatchEvent


def reachability(service: Service, node_addresses: list[str]) -> str:
    spec = service.spec
    parts: list[str] = []
    for port in spec.ports or []:
        label = f"{port.name or port.port}/{port.protocol or 'TCP'}"
        where = []
        if spec.cluster_ip and spec.cluster_ip != "None":
            where.append(f"{spec.cluster_ip}:{port.port}")
        if port.node_port:
            where.append(", ".join(f"{a}:{port.node_port}" for a in node_addresses))
        # The load balancer lists, in order, one entry per port it serves (TCP ports with a nodePort).
        balanced = [p for p in spec.ports or [] if (p.protocol or "TCP") == "TCP" and p.node_port]
        for ingress in service.status.load_balancer.ingress or []:
            served = ingress.ports or []
            index = balanced.index(port) if port in balanced else -1
            lb_port = served[index].port if 0 <= index < len(served) else port.port
            where.append(f"{ingress.ip}:{lb_port} (load balancer)")
        headless = f"{label}: not reachable from the host (headless; pods resolve its name to its pods)"
        parts.append(f"{label} at " + "; ".join(where) if where else headless)
    policy = f", externalTrafficPolicy {spec.external_traffic_policy}" if spec.external_traffic_policy else ""
    return f"service {service.namespace}/{service.name} ({spec.type}{policy}): " + "; ".join(parts)


class ServiceAnnouncer:
    """A store listener: one line per Service when created and when its load balancer is ready."""

    def __init__(self, node_addresses: list[str], out: TextIO = sys.stderr) -> None:
        self._nodes = node_addresses
        self._out = out
        self._said: dict[str, str] = {}

    def __call__(self, event: WatchEvent) -> None:
        obj = event.object
        if not isinstance(obj, Service) or event.type == "DELETED":
            return
        if obj.spec.type == "LoadBalancer" and not obj.status.load_balancer.ingress:
            return  # said once the load balancer has its address
        line = reachability(obj, self._nodes)
        if self._said.get(obj.metadata.uid or "") != line:
            self._said[obj.metadata.uid or ""] = line
            self._out.write(f"hitless: {line}\n")
            self._out.flush()


def sync_line(sync: ProxySync, elapsed: float) -> str:
    pods = ", ".join(
        sorted({e.pod.split("/")[-1] + ("(terminating)" if e.terminating else "") for e in sync.used})
    )
    modes = "/".join(m for m in (sync.internal_mode, sync.external_mode) if m)
    return (
        f"  {f'+{elapsed:.2f}s':>8}  proxy {sync.node}: {sync.service} -> {pods or 'no endpoints'} [{modes}]"
    )
