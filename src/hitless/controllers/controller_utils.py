"""What the controllers share, after pkg/controller/controller_utils.go and pkg/api/v1/pod/util.go.

Times are compared as the controllers see them: an informer reads objects the API server stored
with whole-second timestamps (metav1.Time's protobuf form drops the nanoseconds), so a creation
or Ready time is truncated to the second before it is compared, as on a cluster.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from datetime import datetime

from hitless.api.types.apps import ReplicaSet
from hitless.api.types.meta import K8sObject, OwnerReference
from hitless.api.types.pod import Pod, PodCondition

POD_TEMPLATE_HASH = "pod-template-hash"  # apps.DefaultDeploymentUniqueLabelKey
POD_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
# k8s.io/apimachinery/pkg/util/rand: the alphabet of generated names and SafeEncodeString.
ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"

_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


def seconds(t: datetime | None) -> datetime | None:
    return t.replace(microsecond=0) if t is not None else None


# --- pods ------------------------------------------------------------------------------------


def is_pod_active(pod: Pod) -> bool:
    return pod.status.phase not in ("Succeeded", "Failed") and pod.metadata.deletion_timestamp is None


def ready_condition(pod: Pod) -> PodCondition | None:
    return pod.status.condition("Ready")


def is_pod_ready(pod: Pod) -> bool:
    c = ready_condition(pod)
    return c is not None and c.status == "True"


def is_pod_available(pod: Pod, min_ready_seconds: int, now: datetime) -> bool:
    """IsPodAvailable: Ready, and Ready since at least minReadySeconds (lastTransitionTime + min <= now)."""
    if not is_pod_ready(pod):
        return False
    if not min_ready_seconds:
        return True
    c = ready_condition(pod)
    since = seconds(c.last_transition_time) if c is not None else None
    return since is not None and since.timestamp() + min_ready_seconds <= now.timestamp()


def _ready_time(pod: Pod) -> datetime | None:
    c = ready_condition(pod)
    return seconds(c.last_transition_time) if c is not None and c.status == "True" else None


def _max_restarts(pod: Pod) -> tuple[int, int]:
    regular = max((c.restart_count for c in pod.status.container_statuses or []), default=0)
    sidecars = {c.name for c in pod.spec.sidecars()}
    sidecar = max(
        (c.restart_count for c in pod.status.init_container_statuses or [] if c.name in sidecars), default=0
    )
    return regular, sidecar


def _deletion_cost(pod: Pod) -> int:
    value = (pod.metadata.annotations or {}).get(POD_DELETION_COST)
    try:
        cost = int(value) if value is not None else 0
    except ValueError:
        return 0
    return cost if -(2**31) <= cost < 2**31 else 0


def _log_rank_diff(t1: datetime, t2: datetime, now: datetime) -> int:
    """logarithmicRankDiff: compare floor(log2(age in ns)) buckets."""

    def rank(t: datetime) -> int:
        d = round((now - t).total_seconds() * 1e9)
        return int(math.log2(d)) if d > 0 else -1

    return rank(t1) - rank(t2)


def _after_or_zero(t1: datetime | None, t2: datetime | None) -> bool:
    if t1 is None or t2 is None:
        return t1 is None
    return t1 > t2


def _less(a: Pod, b: Pod, rank_a: int, rank_b: int, now: datetime) -> bool:
    """ActivePodsWithRanks.Less with the default feature gates (PodDeletionCost, LogarithmicScaleDown)."""
    na, nb = a.spec.node_name or "", b.spec.node_name or ""
    if na != nb and (not na or not nb):
        return not na
    pa, pb = _PHASE_ORDINAL.get(a.status.phase or "", 0), _PHASE_ORDINAL.get(b.status.phase or "", 0)
    if pa != pb:
        return pa < pb
    ra, rb = is_pod_ready(a), is_pod_ready(b)
    if ra != rb:
        return not ra
    ca, cb = _deletion_cost(a), _deletion_cost(b)
    if ca != cb:
        return ca < cb
    if rank_a != rank_b:
        return rank_a > rank_b
    if ra and rb and (less := _less_by_time(_ready_time(a), _ready_time(b), a, b, now)) is not None:
        return less
    (rega, sida), (regb, sidb) = _max_restarts(a), _max_restarts(b)
    if rega != regb:
        return rega > regb
    if sida != sidb:
        return sida > sidb
    ta, tb = seconds(a.metadata.creation_timestamp), seconds(b.metadata.creation_timestamp)
    return bool(_less_by_time(ta, tb, a, b, now))


def _less_by_time(ta: datetime | None, tb: datetime | None, a: Pod, b: Pod, now: datetime) -> bool | None:
    """Less on the Ready or creation times, in log2 buckets of age (LogarithmicScaleDown), the UID
    deciding within a bucket; None when the times are equal and the next criterion decides."""
    if ta == tb:
        return None
    if ta is None or tb is None:
        return _after_or_zero(ta, tb)
    diff = _log_rank_diff(ta, tb, now)
    if diff == 0:
        return (a.metadata.uid or "") < (b.metadata.uid or "")
    return diff < 0


def pods_to_delete(pods: Sequence[Pod], related: Sequence[Pod], diff: int, now: datetime) -> list[Pod]:
    """getPodsToDelete: the ``diff`` pods a ReplicaSet deletes first, ranked by ActivePodsWithRanks.

    A pod's rank is the number of active pods related to it (of any ReplicaSet of the same owner)
    on its node: doubled-up pods go first.
    """
    if diff >= len(pods):
        return list(pods[:diff])
    on_node: dict[str, int] = {}
    for p in related:
        if is_pod_active(p):
            on_node[p.spec.node_name or ""] = on_node.get(p.spec.node_name or "", 0) + 1
    ranked = [(p, on_node.get(p.spec.node_name or "", 0)) for p in pods]

    def compare(x: tuple[Pod, int], y: tuple[Pod, int]) -> int:
        if _less(x[0], y[0], x[1], y[1], now):
            return -1
        if _less(y[0], x[0], y[1], x[1], now):
            return 1
        return 0

    ranked.sort(key=functools.cmp_to_key(compare))
    return [p for p, _ in ranked[:diff]]


# --- owners ----------------------------------------------------------------------------------


def controller_ref(obj: K8sObject) -> OwnerReference | None:
    for ref in obj.metadata.owner_references or []:
        if ref.controller:
            return ref
    return None


def new_controller_ref(owner: K8sObject) -> OwnerReference:
    return OwnerReference(
        api_version=owner.api_version,
        kind=owner.kind,
        name=owner.name,
        uid=owner.metadata.uid or "",
        controller=True,
        block_owner_deletion=True,
    )


def rs_by_creation_key(rs: ReplicaSet) -> tuple[float, str]:
    """ReplicaSetsByCreationTimestamp: older first, then by name."""
    t = seconds(rs.metadata.creation_timestamp)
    return (t.timestamp() if t is not None else 0.0, rs.name)


# --- hashing and int-or-percent --------------------------------------------------------------


def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(s: str) -> str:
    """rand.SafeEncodeString: no vowels, so that no word is ever spelled."""
    return "".join(ALPHANUMS[ord(c) % len(ALPHANUMS)] for c in s)


def compute_hash(template: object, collision_count: int | None) -> str:
    """controller.ComputeHash: fnv32a of the template (+ collisionCount), safe-encoded.

    Upstream hashes Go's spew dump of the struct, which cannot be reproduced outside Go: this
    hashes the template's canonical JSON instead, so the value has upstream's form (digits of a
    32-bit number, safe-encoded) but not its exact characters.
    """
    data = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    if collision_count is not None:
        data += (collision_count & 0xFFFFFFFF).to_bytes(4, "little") + b"\0\0\0\0"
    return safe_encode(str(fnv32a(data)))


def scaled_value(value: int | str | None, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent (validation already refused anything else)."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    if not value.endswith("%"):
        raise ValueError(
            f"invalid value for IntOrString: invalid type: string is not a percentage: {value!r}"
        )
    percent = int(value[:-1])
    # Integer arithmetic gives math.Ceil/Floor(percent * total / 100) exactly.
    return -(-percent * total // 100) if round_up else percent * total // 100
