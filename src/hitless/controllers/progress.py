"""The Deployment's status: pkg/controller/deployment/sync.go calculateStatus and progress.go.

The counts come from the ReplicaSets' status (terminating pods are in none of them); Available
is True while availableReplicas >= replicas - maxUnavailable; Progressing follows the rollout
(NewReplicaSetCreated, ReplicaSetUpdated on each sign of progress, NewReplicaSetAvailable when
complete) and turns False with ProgressDeadlineExceeded when no progress was seen for
progressDeadlineSeconds — the controller requeues the Deployment for that moment. Nothing is
rolled back: the condition only reports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hitless.api.types.apps import Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet
from hitless.controllers import deployment_util as du

if TYPE_CHECKING:
    from hitless.controllers.deployment import DeploymentController


def calculate_status(
    dc: DeploymentController, all_rss: list[ReplicaSet | None], new_rs: ReplicaSet | None, d: Deployment
) -> DeploymentStatus:
    available = du.available_replicas(all_rss)
    total = du.spec_replicas(all_rss)
    unavailable = max(total - available, 0)
    status = DeploymentStatus(
        observed_generation=d.metadata.generation,
        replicas=du.actual_replicas(all_rss) or None,
        updated_replicas=du.actual_replicas([new_rs]) or None,
        ready_replicas=du.ready_replicas(all_rss) or None,
        available_replicas=available or None,
        unavailable_replicas=unavailable or None,
        conditions=[c.copy_deep() for c in d.status.conditions or []] or None,
        collision_count=d.status.collision_count,
    )
    now = dc.clock.wall()
    if available >= du.replicas_of(d) - du.max_unavailable(d):
        cond = du.new_condition(
            "Available",
            "True",
            du.MINIMUM_REPLICAS_AVAILABLE,
            "Deployment has minimum availability.",
            now,
        )
    else:
        cond = du.new_condition(
            "Available",
            "False",
            du.MINIMUM_REPLICAS_UNAVAILABLE,
            "Deployment does not have minimum availability.",
            now,
        )
    du.set_condition(status, cond)
    return status


def sync_status(
    dc: DeploymentController, all_rss: list[ReplicaSet | None], new_rs: ReplicaSet | None, d: Deployment
) -> None:
    """syncDeploymentStatus."""
    status = calculate_status(dc, all_rss, new_rs, d)
    if status != d.status:
        d.status = status
        dc.write_status(d)


def sync_rollout_status(
    dc: DeploymentController, all_rss: list[ReplicaSet | None], new_rs: ReplicaSet | None, d: Deployment
) -> None:
    """syncRolloutStatus: the status, and the Progressing condition against the deadline."""
    status = calculate_status(dc, all_rss, new_rs, d)
    now = dc.clock.wall()
    if not du.has_progress_deadline(d):
        du.remove_condition(status, "Progressing")
    current = du.get_condition(d.status, "Progressing")
    complete_before = (
        status.replicas == status.updated_replicas
        and current is not None
        and current.reason == du.NEW_RS_AVAILABLE
    )
    if du.has_progress_deadline(d) and not complete_before:
        subject = f'ReplicaSet "{new_rs.name}"' if new_rs is not None else f'Deployment "{d.name}"'
        if du.deployment_complete(d, status):
            msg = f"{subject} has successfully progressed."
            du.set_condition(status, du.new_condition("Progressing", "True", du.NEW_RS_AVAILABLE, msg, now))
        elif du.deployment_progressing(d, status):
            msg = f"{subject} is progressing."
            cond = du.new_condition("Progressing", "True", du.REPLICA_SET_UPDATED, msg, now)
            if current is not None:
                if current.status == "True":
                    cond.last_transition_time = current.last_transition_time
                du.remove_condition(status, "Progressing")
            du.set_condition(status, cond)
        elif du.deployment_timed_out(d, status, now):
            msg = f"{subject} has timed out progressing."
            du.set_condition(status, du.new_condition("Progressing", "False", du.TIMED_OUT, msg, now))
    failures = replica_failures(all_rss, new_rs)
    if failures:
        du.set_condition(status, failures[0])
    else:
        du.remove_condition(status, "ReplicaFailure")
    if status == d.status:
        requeue_stuck(dc, d, status)
        return
    d.status = status
    dc.write_status(d)


def replica_failures(
    all_rss: list[ReplicaSet | None], new_rs: ReplicaSet | None
) -> list[DeploymentCondition]:
    def convert(rs: ReplicaSet) -> list[DeploymentCondition]:
        return [
            DeploymentCondition(
                type=c.type,
                status=c.status,
                last_update_time=c.last_transition_time,
                last_transition_time=c.last_transition_time,
                reason=c.reason,
                message=c.message,
            )
            for c in rs.status.conditions or []
            if c.type == "ReplicaFailure"
        ]

    if new_rs is not None and (found := convert(new_rs)):
        return found
    return [c for rs in all_rss if rs is not None for c in convert(rs)]


def requeue_stuck(dc: DeploymentController, d: Deployment, status: DeploymentStatus) -> None:
    """requeueStuckDeployment: come back when the deadline passes, to say so."""
    current = du.get_condition(d.status, "Progressing")
    if not du.has_progress_deadline(d) or current is None:
        return
    if du.deployment_complete(d, status) or current.reason == du.TIMED_OUT:
        return
    assert d.spec.progress_deadline_seconds is not None and current.last_update_time is not None
    since = current.last_update_time.replace(microsecond=0)
    after = since.timestamp() + d.spec.progress_deadline_seconds - dc.clock.wall().timestamp()
    key = (d.namespace, d.name)
    if after < 1:
        # Upstream requeues rate-limited (from 5 ms) until the deadline is past.
        dc.queue.add_after(key, max(after, 0.0) + 0.005)
    else:
        # A second more, against millisecond skew, as upstream.
        dc.queue.add_after(key, after + 1)
