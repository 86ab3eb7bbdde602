"""What one sync of a node's kube-proxy wants, from the Services and EndpointSlices it knows:
each frontend's endpoint set and mode, the health-check node ports and their local counts, the
ClusterIP targets pods on the node meet, and what each Service's sync record says.

Apart from node.py because it is syncProxyRules' computation alone: a pure function of what the
node has learnt (no sockets, no clock), where node.py applies its result to listeners and
serves connections.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from hitless.api.types.discovery import EndpointSlice
from hitless.api.types.service import Service
from hitless.proxy.podside import ClusterTarget
from hitless.proxy.records import SyncedEndpoint
from hitless.proxy.selection import (
    ProxyEndpoint,
    categorize,
    local_ready_ips,
    mode_for,
    policies,
    port_endpoints,
)

Key = tuple[str, str]

# Each frontend address: (kind, service, port name, endpoints, has any endpoint, SNAT).
Desired = dict[tuple[str, int], tuple[str, str, str, tuple[ProxyEndpoint, ...], bool, bool]]


@dataclass
class Applied:
    """What a sync applied for one Service: the node records a ProxySync only when it changes."""

    used: tuple[SyncedEndpoint, ...] = ()
    internal: tuple[SyncedEndpoint, ...] = ()
    external: tuple[SyncedEndpoint, ...] = ()
    local_ready: int | None = None
    modes: tuple[str, str] = ("", "")


def synced(endpoints: tuple[ProxyEndpoint, ...] | list[ProxyEndpoint]) -> tuple[SyncedEndpoint, ...]:
    return tuple(
        SyncedEndpoint(e.pod, (e.ip, e.port), e.ready, e.serving, e.terminating, e.node) for e in endpoints
    )


class Rules(NamedTuple):
    desired: Desired
    # Each health-check node port: its Service and the count of its local ready endpoints.
    checks: dict[int, tuple[Key, int]]
    applied: dict[Key, Applied]
    targets: dict[tuple[str, int], ClusterTarget]


def compute_rules(
    services: dict[Key, Service],
    slices: dict[Key, EndpointSlice],
    node: str,
    address: str,
    serves_cluster_ips: bool,
    fallback: bool,
) -> Rules:
    """Every Service's sets as syncProxyRules computes them on ``node`` (at ``address``)."""
    by_service: dict[Key, list[EndpointSlice]] = {}
    for slice_ in slices.values():
        if slice_.service_name:
            by_service.setdefault((slice_.namespace, slice_.service_name), []).append(slice_)
    desired: Desired = {}
    checks: dict[int, tuple[Key, int]] = {}
    applied: dict[Key, Applied] = {}
    targets: dict[tuple[str, int], ClusterTarget] = {}
    for key, svc in services.items():
        spec = svc.spec
        if spec.type == "ExternalName" or not spec.cluster_ip or spec.cluster_ip == "None":
            continue
        name = f"{key[0]}/{key[1]}"
        internal_policy, external_policy = policies(svc)
        external = spec.type in ("NodePort", "LoadBalancer")
        uses_cluster = internal_policy == "Cluster" or (external and external_policy == "Cluster")
        uses_local = internal_policy == "Local" or (external and external_policy == "Local")
        internal_all: list[ProxyEndpoint] = []
        external_all: list[ProxyEndpoint] = []
        local_ips: set[str] = set()
        modes = ["", ""]
        for port in spec.ports or []:
            if (port.protocol or "TCP") != "TCP":
                continue
            endpoints = port_endpoints(port, by_service.get(key, []))
            cat = categorize(endpoints, node, uses_cluster, uses_local, fallback)
            internal_set = (cat.local if internal_policy == "Local" else cat.cluster) or ()
            external_set = (cat.local if external_policy == "Local" else cat.cluster) or ()
            local_ips |= local_ready_ips(endpoints, node)
            # What a pod on this node meets at the ClusterIP (proxy/podside.py).
            targets[(spec.cluster_ip, port.port)] = ClusterTarget(
                name, port.name or "", internal_set, mode_for(internal_set, cat.has_any)
            )
            if serves_cluster_ips:
                mode = mode_for(internal_set, cat.has_any)
                modes[0] = modes[0] or mode
                desired[(spec.cluster_ip, port.port)] = (
                    "clusterIP",
                    name,
                    port.name or "",
                    internal_set,
                    cat.has_any,
                    True,
                )
                internal_all.extend(internal_set)
            if external and port.node_port:
                mode = mode_for(external_set, cat.has_any)
                modes[1] = modes[1] or mode
                snat = external_policy != "Local"
                desired[(address, port.node_port)] = (
                    "nodePort",
                    name,
                    port.name or "",
                    external_set,
                    cat.has_any,
                    snat,
                )
                external_all.extend(external_set)
        local_ready: int | None = None
        if spec.type == "LoadBalancer" and external_policy == "Local" and spec.health_check_node_port:
            local_ready = len(local_ips)
            checks[spec.health_check_node_port] = (key, local_ready)
        union = {(e.ip, e.port): e for e in internal_all + external_all}
        applied[key] = Applied(
            used=synced(sorted(union.values(), key=lambda e: (e.ip, e.port))),
            internal=synced(internal_all),
            external=synced(external_all),
            local_ready=local_ready,
            modes=(modes[0], modes[1]),
        )
    return Rules(desired, checks, applied, targets)
