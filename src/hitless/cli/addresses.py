"""The addresses a run will listen on, claimed before anything starts (proxy/owner.py)."""

from __future__ import annotations

from collections.abc import Iterable

from hitless.api.types.meta import K8sObject
from hitless.api.types.service import Service
from hitless.engine import free_address_prefixes, node_address
from hitless.proxy.owner import address_conflicts


def claim_addresses(objects: Iterable[K8sObject], nodes: int) -> tuple[tuple[str, str], list[str]]:
    """The node and load-balancer address prefixes this run will use, and every fixed clusterIP
    or nodePort of the manifests that another listener on this host holds (messages).

    Called in the user's process, before the engine's PID namespace hides the host's processes,
    so that a holder can be named."""
    node_prefix, lb_prefix = free_address_prefixes()
    services = [o for o in objects if isinstance(o, Service)]
    conflicts = address_conflicts(services, [node_address(i, node_prefix) for i in range(1, nodes + 1)])
    return (node_prefix, lb_prefix), [c.format() for c in conflicts]
