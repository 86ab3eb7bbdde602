"""The addresses a run will listen on, claimed before anything starts (proxy/owner.py, claims.py)."""

from __future__ import annotations

from collections.abc import Iterable

from hitless.api.types.meta import K8sObject
from hitless.api.types.service import Service
from hitless.engine import node_address
from hitless.proxy.claims import Claim, claim_address_block, claim_holder, try_claim
from hitless.proxy.owner import Conflict, address_conflicts

# This process's claims. The CLI claims once per process, and a run's addresses are in use
# until its last process ends (the engine's forks share these descriptors): never released
# before, so a run that is SIGKILLed gives them up with its processes and only then.
_HELD: list[Claim] = []


def claim_addresses(objects: Iterable[K8sObject], nodes: int) -> tuple[tuple[str, str], list[str]]:
    """The node and load-balancer address prefixes this run will use, and every fixed clusterIP
    or nodePort of the manifests that another listener, or another hitless, on this host holds
    (messages). On success, the block and the fixed clusterIPs are claimed for this process's
    life, so that a hitless started at the same moment takes others (proxy/claims.py).

    Called in the user's process, before the engine's PID namespace hides the host's processes,
    so that a holder can be named."""
    try:
        node_prefix, lb_prefix, block = claim_address_block()
    except RuntimeError as exc:  # every block is another run's: refused as a taken address is
        return ("", ""), [str(exc)]
    claims = [block]
    services = [o for o in objects if isinstance(o, Service)]
    claimed: list[Conflict] = []
    names: set[str] = set()
    for service in services:
        ip = service.spec.cluster_ip
        if not ip or ip == "None" or (service.spec.type or "ClusterIP") == "ExternalName":
            continue
        for port in service.spec.ports or []:
            name = f"{ip}:{port.port}"
            if (port.protocol or "TCP") != "TCP" or name in names:
                continue  # (the same address twice in one run: the allocator refuses the second)
            names.add(name)
            if (claim := try_claim(name)) is not None:
                claims.append(claim)
                continue
            holder = claim_holder(name) or "a process hitless cannot see"
            reason = f"{name} is claimed by another hitless run, {holder}"
            claimed.append(Conflict(service, "spec.clusterIP", ip, reason))
            break  # one message for the Service's address
    refused = {(id(c.service), c.field) for c in claimed}
    conflicts = claimed + [
        c
        for c in address_conflicts(services, [node_address(i, node_prefix) for i in range(1, nodes + 1)])
        if (id(c.service), c.field) not in refused
    ]
    if conflicts:
        for claim in claims:
            claim.release()
    else:
        _HELD.extend(claims)
    return (node_prefix, lb_prefix), [c.format() for c in conflicts]
