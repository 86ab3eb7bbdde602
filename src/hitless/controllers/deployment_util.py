"""pkg/controller/deployment/util/deployment_util.go: the arithmetic of a rollout, without I/O.

Fence-posts (maxSurge rounds up, maxUnavailable down, both zero becomes unavailable 1), the new
ReplicaSet's next size, proportions for scaling during a rollout, revisions, annotations and
the conditions' rules.
"""

from __future__ import annotations

from datetime import datetime

from hitless.api.types.apps import Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet
from hitless.api.types.pod import ConditionStatus, PodTemplateSpec
from hitless.controllers.controller_utils import POD_TEMPLATE_HASH, rs_by_creation_key, scaled_value, seconds

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
ROLLBACK_TO = "deprecated.deployment.rollback.to"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
_SKIP_COPY = {LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS, ROLLBACK_TO}
MAX_REV_HISTORY_CHARS = 2000
MAX_INT32 = 2**31 - 1

# Condition reasons.
REPLICA_SET_UPDATED = "ReplicaSetUpdated"
NEW_REPLICA_SET = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
MINIMUM_REPLICAS_AVAILABLE = "MinimumReplicasAvailable"
MINIMUM_REPLICAS_UNAVAILABLE = "MinimumReplicasUnavailable"


def replicas_of(obj: Deployment | ReplicaSet | None) -> int:
    if obj is None:
        return 0
    return obj.spec.replicas if obj.spec.replicas is not None else 1


def is_rolling_update(d: Deployment) -> bool:
    return d.spec.strategy.type == "RollingUpdate"


def resolve_fenceposts(
    max_surge: int | str | None, max_unavailable: int | str | None, desired: int
) -> tuple[int, int]:
    surge = scaled_value(max_surge if max_surge is not None else 0, desired, True)
    unavailable = scaled_value(max_unavailable if max_unavailable is not None else 0, desired, False)
    if surge == 0 and unavailable == 0:
        # Rounding down may leave both at zero; surge might not work (quota), so allow one down.
        unavailable = 1
    return surge, unavailable


def max_unavailable(d: Deployment) -> int:
    replicas = replicas_of(d)
    rolling = d.spec.strategy.rolling_update
    if not is_rolling_update(d) or replicas == 0 or rolling is None:
        return 0
    _, unavailable = resolve_fenceposts(rolling.max_surge, rolling.max_unavailable, replicas)
    return min(unavailable, replicas)


def max_surge(d: Deployment) -> int:
    rolling = d.spec.strategy.rolling_update
    if not is_rolling_update(d) or rolling is None:
        return 0
    surge, _ = resolve_fenceposts(rolling.max_surge, rolling.max_unavailable, replicas_of(d))
    return surge


def min_available(d: Deployment) -> int:
    return replicas_of(d) - max_unavailable(d) if is_rolling_update(d) else 0


def new_rs_new_replicas(d: Deployment, all_rss: list[ReplicaSet], new_rs: ReplicaSet) -> int:
    """NewRSNewReplicas: how far the new ReplicaSet may grow now."""
    replicas = replicas_of(d)
    if d.spec.strategy.type == "Recreate":
        return replicas
    rolling = d.spec.strategy.rolling_update
    surge = scaled_value(rolling.max_surge if rolling else None, replicas, True)
    current = sum(replicas_of(rs) for rs in all_rss)
    max_total = replicas + surge
    if current >= max_total:
        return replicas_of(new_rs)
    up = min(max_total - current, replicas - replicas_of(new_rs))
    return replicas_of(new_rs) + up


def is_saturated(d: Deployment, rs: ReplicaSet | None) -> bool:
    if rs is None:
        return False
    try:
        desired = int((rs.metadata.annotations or {}).get(DESIRED_REPLICAS, ""))
    except ValueError:
        return False
    replicas = replicas_of(d)
    return (
        replicas_of(rs) == replicas
        and desired == replicas
        and (rs.status.available_replicas or 0) == replicas
    )


def get_proportion(rs: ReplicaSet, d: Deployment, to_add: int, added: int) -> int:
    if replicas_of(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = _replica_set_fraction(rs, d)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def _replica_set_fraction(rs: ReplicaSet, d: Deployment) -> int:
    if replicas_of(d) == 0:
        return -replicas_of(rs)
    deployment_replicas = replicas_of(d) + max_surge(d)
    annotated = _int_annotation(rs, MAX_REPLICAS)
    if annotated is None:
        annotated = d.status.replicas or 0
    if annotated == 0:
        return 0
    size = replicas_of(rs) * deployment_replicas / annotated
    # integer.RoundToInt32 is math.Round: halves away from zero.
    rounded = int(size + 0.5) if size >= 0 else -int(-size + 0.5)
    return rounded - replicas_of(rs)


def _int_annotation(rs: ReplicaSet, key: str) -> int | None:
    try:
        return int((rs.metadata.annotations or {})[key])
    except (KeyError, ValueError):
        return None


def desired_replicas_annotation(rs: ReplicaSet) -> int | None:
    return _int_annotation(rs, DESIRED_REPLICAS)


def set_replicas_annotations(rs: ReplicaSet, desired: int, maximum: int) -> bool:
    annotations = rs.metadata.annotations if rs.metadata.annotations is not None else {}
    rs.metadata.annotations = annotations
    updated = False
    for key, value in ((DESIRED_REPLICAS, str(desired)), (MAX_REPLICAS, str(maximum))):
        if annotations.get(key) != value:
            annotations[key] = value
            updated = True
    return updated


def replicas_annotations_need_update(rs: ReplicaSet, desired: int, maximum: int) -> bool:
    annotations = rs.metadata.annotations or {}
    return annotations.get(DESIRED_REPLICAS) != str(desired) or annotations.get(MAX_REPLICAS) != str(maximum)


def revision(obj: Deployment | ReplicaSet) -> int | None:
    """The revision annotation; None when it does not parse (such ReplicaSets are skipped)."""
    value = (obj.metadata.annotations or {}).get(REVISION)
    if value is None:
        return 0
    try:
        return int(value)
    except ValueError:
        return None


def max_revision(rss: list[ReplicaSet]) -> int:
    return max((r for rs in rss if (r := revision(rs)) is not None), default=0)


def set_new_replica_set_annotations(d: Deployment, rs: ReplicaSet, new_revision: str, exists: bool) -> bool:
    annotations = rs.metadata.annotations if rs.metadata.annotations is not None else {}
    rs.metadata.annotations = annotations
    changed = False
    for k, v in (d.metadata.annotations or {}).items():
        if k in _SKIP_COPY or annotations.get(k) == v:
            continue
        annotations[k] = v
        changed = True
    old_revision = annotations.get(REVISION)
    try:
        old_int = int(old_revision) if old_revision is not None else 0
    except ValueError:
        if old_revision != "":
            return False
        old_int = 0
    new_int = int(new_revision)
    if old_int < new_int:
        annotations[REVISION] = new_revision
        changed = True
        if old_revision is not None:
            # Rolled back to this ReplicaSet: keep the revisions it served before.
            history = annotations.get(REVISION_HISTORY, "")
            if not history:
                annotations[REVISION_HISTORY] = old_revision
            else:
                old = history.split(",")
                total = len(history) + len(old_revision) + 1
                start = 0
                while total > MAX_REV_HISTORY_CHARS and start < len(old):
                    total -= len(old[start]) + 1
                    start += 1
                if total <= MAX_REV_HISTORY_CHARS:
                    annotations[REVISION_HISTORY] = ",".join([*old[start:], old_revision])
    if not exists and set_replicas_annotations(rs, replicas_of(d), replicas_of(d) + max_surge(d)):
        changed = True
    return changed


def set_deployment_revision(d: Deployment, value: str) -> bool:
    annotations = d.metadata.annotations if d.metadata.annotations is not None else {}
    d.metadata.annotations = annotations
    if annotations.get(REVISION) != value:
        annotations[REVISION] = value
        return True
    return False


def _without_hash(template: PodTemplateSpec | None) -> object:
    if template is None:
        return None
    data = template.to_json()
    labels = dict(data.get("metadata", {}).get("labels") or {})
    labels.pop(POD_TEMPLATE_HASH, None)
    meta = dict(data.get("metadata") or {})
    if labels:
        meta["labels"] = labels
    else:
        meta.pop("labels", None)
    data["metadata"] = meta
    return data


def equal_ignore_hash(a: PodTemplateSpec | None, b: PodTemplateSpec | None) -> bool:
    return _without_hash(a) == _without_hash(b)


def find_new_replica_set(d: Deployment, rss: list[ReplicaSet]) -> ReplicaSet | None:
    """The oldest ReplicaSet whose template is the Deployment's (ignoring pod-template-hash)."""
    for rs in sorted(rss, key=rs_by_creation_key):
        if equal_ignore_hash(rs.spec.template, d.spec.template):
            return rs
    return None


def find_old_replica_sets(d: Deployment, rss: list[ReplicaSet]) -> list[ReplicaSet]:
    new = find_new_replica_set(d, rss)
    return [rs for rs in rss if new is None or rs.metadata.uid != new.metadata.uid]


def filter_active(rss: list[ReplicaSet | None]) -> list[ReplicaSet]:
    return [rs for rs in rss if rs is not None and replicas_of(rs) > 0]


def find_active_or_latest(new_rs: ReplicaSet | None, old_rss: list[ReplicaSet]) -> ReplicaSet | None:
    if new_rs is None and not old_rss:
        return None
    old_sorted = sorted(old_rss, key=rs_by_creation_key, reverse=True)
    active = filter_active([*old_sorted, new_rs])
    if not active:
        return new_rs if new_rs is not None else old_sorted[0]
    return active[0] if len(active) == 1 else None


def spec_replicas(rss: list[ReplicaSet | None]) -> int:
    return sum(replicas_of(rs) for rs in rss if rs is not None)


def actual_replicas(rss: list[ReplicaSet | None]) -> int:
    return sum(rs.status.replicas for rs in rss if rs is not None)


def ready_replicas(rss: list[ReplicaSet | None]) -> int:
    return sum(rs.status.ready_replicas or 0 for rs in rss if rs is not None)


def available_replicas(rss: list[ReplicaSet | None]) -> int:
    return sum(rs.status.available_replicas or 0 for rs in rss if rs is not None)


# --- conditions ------------------------------------------------------------------------------


def new_condition(
    type_: str, status: ConditionStatus, reason: str, message: str, now: datetime
) -> DeploymentCondition:
    t = seconds(now)
    return DeploymentCondition(
        type=type_, status=status, last_update_time=t, last_transition_time=t, reason=reason, message=message
    )


def get_condition(status: DeploymentStatus, type_: str) -> DeploymentCondition | None:
    return status.condition(type_)


def set_condition(status: DeploymentStatus, condition: DeploymentCondition) -> None:
    """SetDeploymentCondition: no change for the same status and reason; lastTransitionTime moves
    only when the status does."""
    current = get_condition(status, condition.type)
    if current is not None and current.status == condition.status and current.reason == condition.reason:
        return
    if current is not None and current.status == condition.status:
        condition.last_transition_time = current.last_transition_time
    status.conditions = [*(c for c in status.conditions or [] if c.type != condition.type), condition]


def remove_condition(status: DeploymentStatus, type_: str) -> None:
    status.conditions = [c for c in status.conditions or [] if c.type != type_] or None


def has_progress_deadline(d: Deployment) -> bool:
    return d.spec.progress_deadline_seconds is not None and d.spec.progress_deadline_seconds != MAX_INT32


def has_revision_history_limit(d: Deployment) -> bool:
    return d.spec.revision_history_limit is not None and d.spec.revision_history_limit != MAX_INT32


def deployment_complete(d: Deployment, status: DeploymentStatus) -> bool:
    replicas = replicas_of(d)
    return (
        (status.updated_replicas or 0) == replicas
        and (status.replicas or 0) == replicas
        and (status.available_replicas or 0) == replicas
        and (status.observed_generation or 0) >= (d.metadata.generation or 0)
    )


def deployment_progressing(d: Deployment, new: DeploymentStatus) -> bool:
    old = d.status
    old_old = (old.replicas or 0) - (old.updated_replicas or 0)
    new_old = (new.replicas or 0) - (new.updated_replicas or 0)
    return (
        (new.updated_replicas or 0) > (old.updated_replicas or 0)
        or new_old < old_old
        or (new.ready_replicas or 0) > (old.ready_replicas or 0)
        or (new.available_replicas or 0) > (old.available_replicas or 0)
    )


def deployment_timed_out(d: Deployment, status: DeploymentStatus, now: datetime) -> bool:
    if not has_progress_deadline(d):
        return False
    condition = get_condition(status, "Progressing")
    if condition is None or condition.reason == NEW_RS_AVAILABLE:
        return False
    if condition.reason == TIMED_OUT:
        return True
    since = seconds(condition.last_update_time)
    assert d.spec.progress_deadline_seconds is not None
    return since is not None and since.timestamp() + d.spec.progress_deadline_seconds < now.timestamp()
