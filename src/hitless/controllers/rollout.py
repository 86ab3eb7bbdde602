"""The two strategies: pkg/controller/deployment/rolling.go and recreate.go.

RollingUpdate scales the new ReplicaSet up as far as maxSurge allows, and only when that did
nothing, scales old ReplicaSets down as far as maxUnavailable allows — unhealthy replicas first,
then the oldest ReplicaSets first. Counts are ReplicaSet *spec* replicas and *status* available
replicas: a terminating pod counts for neither, though it may still be running.

Recreate scales every old ReplicaSet to zero, waits until no old pod is left in a non-terminal
phase (terminating ones included), and only then creates the new ReplicaSet at full size.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hitless.api.types.apps import Deployment, ReplicaSet
from hitless.api.types.pod import Pod
from hitless.controllers import deployment_util as du
from hitless.controllers.controller_utils import rs_by_creation_key

if TYPE_CHECKING:
    from hitless.controllers.deployment import DeploymentController


# --- RollingUpdate -------------------------------------------------------------------------------


def rollout_rolling(dc: DeploymentController, d: Deployment, rss: list[ReplicaSet]) -> None:
    new_rs, old_rss = dc.get_all_replica_sets(d, rss, True)
    assert new_rs is not None
    all_rss: list[ReplicaSet | None] = [*old_rss, new_rs]
    if reconcile_new(dc, all_rss, new_rs, d):
        dc.sync_rollout_status(all_rss, new_rs, d)
        return
    if reconcile_old(dc, all_rss, du.filter_active(list(old_rss)), new_rs, d):
        dc.sync_rollout_status(all_rss, new_rs, d)
        return
    if du.deployment_complete(d, d.status):
        dc.cleanup(old_rss, d)
    dc.sync_rollout_status(all_rss, new_rs, d)


def reconcile_new(
    dc: DeploymentController, all_rss: list[ReplicaSet | None], new_rs: ReplicaSet, d: Deployment
) -> bool:
    replicas = du.replicas_of(d)
    if du.replicas_of(new_rs) == replicas:
        return False
    if du.replicas_of(new_rs) > replicas:
        scaled, _ = dc.scale_and_record(new_rs, replicas, d)
        return scaled
    count = du.new_rs_new_replicas(d, [rs for rs in all_rss if rs is not None], new_rs)
    scaled, _ = dc.scale_and_record(new_rs, count, d)
    return scaled


def reconcile_old(
    dc: DeploymentController,
    all_rss: list[ReplicaSet | None],
    old_rss: list[ReplicaSet],
    new_rs: ReplicaSet,
    d: Deployment,
) -> bool:
    if du.spec_replicas(list(old_rss)) == 0:
        return False
    all_pods = du.spec_replicas(all_rss)
    min_available = du.replicas_of(d) - du.max_unavailable(d)
    new_unavailable = du.replicas_of(new_rs) - (new_rs.status.available_replicas or 0)
    # Surge pods already made count, but so do the new ReplicaSet's unavailable ones: scaling
    # old ones down for them would lower availability further.
    max_scaled_down = all_pods - min_available - new_unavailable
    if max_scaled_down <= 0:
        return False
    old_rss, cleaned = cleanup_unhealthy(dc, old_rss, d, max_scaled_down)
    scaled = scale_down_old_for_rolling(dc, [*old_rss, new_rs], old_rss, d)
    return cleaned + scaled > 0


def cleanup_unhealthy(
    dc: DeploymentController, old_rss: list[ReplicaSet], d: Deployment, max_cleanup: int
) -> tuple[list[ReplicaSet], int]:
    """Scale down old ReplicaSets by their unavailable replicas first: it costs no availability
    (the ReplicaSet deletes not-ready pods first) and unblocks a rollout stuck on them."""
    old_rss = sorted(old_rss, key=rs_by_creation_key)
    total = 0
    for i, rs in enumerate(old_rss):
        if total >= max_cleanup:
            break
        spec = du.replicas_of(rs)
        available = rs.status.available_replicas or 0
        if spec == 0 or spec == available:
            continue
        down = min(max_cleanup - total, spec - available)
        _, old_rss[i] = dc.scale_and_record(rs, spec - down, d)
        total += down
    return old_rss, total


def scale_down_old_for_rolling(
    dc: DeploymentController, all_rss: list[ReplicaSet | None], old_rss: list[ReplicaSet], d: Deployment
) -> int:
    min_available = du.replicas_of(d) - du.max_unavailable(d)
    available = du.available_replicas(all_rss)
    if available <= min_available:
        return 0
    budget = available - min_available
    total = 0
    for rs in sorted(old_rss, key=rs_by_creation_key):
        if total >= budget:
            break
        spec = du.replicas_of(rs)
        if spec == 0:
            continue
        down = min(spec, budget - total)
        dc.scale_and_record(rs, spec - down, d)
        total += down
    return total


# --- Recreate ------------------------------------------------------------------------------------


def rollout_recreate(
    dc: DeploymentController, d: Deployment, rss: list[ReplicaSet], pod_map: dict[str, list[Pod]]
) -> None:
    # Do not create the new ReplicaSet yet: nothing may scale up before the old pods are gone.
    new_rs, old_rss = dc.get_all_replica_sets(d, rss, False)
    all_rss: list[ReplicaSet | None] = [*old_rss, new_rs]
    scaled = False
    for rs in du.filter_active(list(old_rss)):
        did, _ = dc.scale_and_record(rs, 0, d)
        scaled = scaled or did
    if scaled:
        dc.sync_rollout_status(all_rss, new_rs, d)
        return
    if old_pods_running(new_rs, old_rss, pod_map):
        dc.sync_rollout_status(all_rss, new_rs, d)
        return
    if new_rs is None:
        new_rs, old_rss = dc.get_all_replica_sets(d, rss, True)
        all_rss = [*old_rss, new_rs]
    assert new_rs is not None
    dc.scale_and_record(new_rs, du.replicas_of(d), d)
    if du.deployment_complete(d, d.status):
        dc.cleanup(old_rss, d)
    dc.sync_rollout_status(all_rss, new_rs, d)


def old_pods_running(
    new_rs: ReplicaSet | None, old_rss: list[ReplicaSet], pod_map: dict[str, list[Pod]]
) -> bool:
    """Any old ReplicaSet still reporting replicas, or any old pod not yet in a terminal phase
    (Pending, Running, Unknown — a terminating pod is still Running)."""
    if du.actual_replicas(list(old_rss)) > 0:
        return True
    for uid, pods in pod_map.items():
        if new_rs is not None and new_rs.metadata.uid == uid:
            continue
        if any(p.status.phase not in ("Failed", "Succeeded") for p in pods):
            return True
    return False
