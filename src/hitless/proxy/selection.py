"""kube-proxy's view of a Service port's endpoints and its choice among them.

``categorize`` is ``CategorizeEndpoints`` (pkg/proxy/topology.go) without topology hints: the
Cluster set is every ready endpoint, else (KEP-1669) every serving-terminating one; the Local set
is this node's ready endpoints, else this node's serving-terminating ones, each fallback
independent. ``fallback=False`` is the pre-1.26 behaviour (ProxyTerminatingEndpoints off): ready
endpoints only.

``filter_targets`` is what syncProxyRules makes of an empty set: REJECT when the Service has no
usable endpoint anywhere, DROP when it has some but not for this policy ("has no local endpoints").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hitless.api.types.discovery import EndpointSlice
from hitless.api.types.service import Service, ServicePort

Mode = Literal["route", "drop", "refuse"]


@dataclass(frozen=True, slots=True)
class ProxyEndpoint:
    pod: str  # "namespace/name" ("" when the endpoint has no targetRef)
    ip: str
    port: int
    node: str | None
    ready: bool
    serving: bool
    terminating: bool


@dataclass(frozen=True, slots=True)
class Categorized:
    cluster: tuple[ProxyEndpoint, ...] | None
    local: tuple[ProxyEndpoint, ...] | None
    has_any: bool


def port_endpoints(service_port: ServicePort, slices: list[EndpointSlice]) -> list[ProxyEndpoint]:
    """The endpoints of one Service port, merged from all of its slices (endpointslicecache):
    matched by port name, deduplicated by address."""
    name = service_port.name or ""
    protocol = service_port.protocol or "TCP"
    seen: dict[tuple[str, int], ProxyEndpoint] = {}
    for slice_ in slices:
        for port in slice_.ports:
            if (port.name or "") != name or (port.protocol or "TCP") != protocol or not port.port:
                continue
            for endpoint in slice_.endpoints:
                if not endpoint.addresses:
                    continue
                ref = endpoint.target_ref
                pod = f"{ref.namespace}/{ref.name}" if ref is not None and ref.name else ""
                key = (endpoint.addresses[0], port.port)
                seen.setdefault(
                    key,
                    ProxyEndpoint(
                        pod=pod,
                        ip=key[0],
                        port=key[1],
                        node=endpoint.node_name,
                        ready=endpoint.is_ready,
                        serving=endpoint.is_serving,
                        terminating=endpoint.is_terminating,
                    ),
                )
    return sorted(seen.values(), key=lambda e: (e.ip, e.port))


def categorize(
    endpoints: list[ProxyEndpoint],
    node: str,
    uses_cluster: bool,
    uses_local: bool,
    fallback: bool = True,
) -> Categorized:
    cluster: tuple[ProxyEndpoint, ...] | None = None
    local: tuple[ProxyEndpoint, ...] | None = None
    has_any = False

    def serving_terminating(e: ProxyEndpoint) -> bool:
        return fallback and e.serving and e.terminating

    if uses_cluster:
        cluster = tuple(e for e in endpoints if e.ready)
        if not cluster:
            cluster = tuple(e for e in endpoints if serving_terminating(e))
        has_any = bool(cluster)
    if uses_local:
        mine = [e for e in endpoints if e.node == node]
        if any(e.ready or serving_terminating(e) for e in endpoints):
            has_any = True
        local = tuple(e for e in mine if e.ready) or tuple(e for e in mine if serving_terminating(e))
    return Categorized(cluster, local, has_any)


def uses(policy: str | None) -> tuple[bool, bool]:
    local = policy == "Local"
    return (not local, local)


def policies(service: Service) -> tuple[str, str]:
    """(internal, external) traffic policy, with the API's defaults."""
    return (
        service.spec.internal_traffic_policy or "Cluster",
        service.spec.external_traffic_policy or "Cluster",
    )


def mode_for(chosen: tuple[ProxyEndpoint, ...], has_any: bool) -> Mode:
    if chosen:
        return "route"
    return "drop" if has_any else "refuse"


def local_ready_ips(endpoints: list[ProxyEndpoint], node: str) -> set[str]:
    """What the health-check node port counts: distinct IPs of this node's *ready* endpoints
    (terminating ones never count, even when serving)."""
    return {e.ip for e in endpoints if e.node == node and e.ready}
