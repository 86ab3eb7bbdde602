"""What the API server itself does to a Pod: on create, on binding and on delete.

Sources: pkg/registry/core/pod/strategy.go (PrepareForCreate, CheckGracefulDelete),
pkg/registry/core/pod/storage/storage.go (the binding subresource),
staging/src/k8s.io/apiserver/pkg/registry/rest/delete.go (BeforeDelete),
pkg/api/v1/pod/util.go (UpdatePodCondition), pkg/apis/core/helper/qos (GetPodQOS).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hitless.api.types.job import Job
from hitless.api.types.meta import K8sObject, LabelSelector
from hitless.api.types.pod import Pod, PodCondition, PodStatus

TERMINAL_PHASES = ("Succeeded", "Failed")


def qos_class(pod: Pod) -> str:
    """BestEffort, Burstable or Guaranteed, by the containers' requests and limits."""
    containers = [*(pod.spec.init_containers or []), *pod.spec.containers]
    any_set = False
    guaranteed = True
    for c in containers:
        resources = (c.model_extra or {}).get("resources") or {}
        requests = resources.get("requests") or {}
        limits = resources.get("limits") or {}
        if requests or limits:
            any_set = True
        for name in ("cpu", "memory"):
            limit = limits.get(name)
            if limit is None or str(requests.get(name, limit)) != str(limit):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def prepare_pod_for_create(pod: Pod) -> None:
    """A new pod's status is whatever the API server says: Pending, with its QoS class."""
    pod.status = PodStatus(phase="Pending", qos_class=qos_class(pod))


def update_pod_condition(status: PodStatus, condition: PodCondition, now: datetime) -> bool:
    """Set a condition; lastTransitionTime moves only when its status changes. True if changed."""
    condition.last_transition_time = now
    conditions = status.conditions or []
    for i, old in enumerate(conditions):
        if old.type != condition.type:
            continue
        if old.status == condition.status:
            condition.last_transition_time = old.last_transition_time
        conditions[i] = condition
        return old != condition
    status.conditions = [*conditions, condition]
    return True


def graceful_delete_period(pod: Pod, requested: int | None) -> int:
    """CheckGracefulDelete: the grace period a delete of this pod gets."""
    if requested is not None:
        period = requested
    else:
        tgps = pod.spec.termination_grace_period_seconds
        period = tgps if tgps is not None else 0
    if not pod.spec.node_name or pod.status.phase in TERMINAL_PHASES:
        # Nothing runs it (yet, or any more): it goes at once.
        period = 0
    return period


@dataclass(frozen=True)
class DeleteDecision:
    """What a delete does: set (or shorten) the graceful deletion, then maybe remove the object."""

    timestamp: datetime | None  # the new deletionTimestamp, None to leave the object as it is
    grace: int | None
    remove: bool


def before_delete(pod: Pod, requested: int | None, now: datetime) -> DeleteDecision:
    """rest.BeforeDelete for pods (whose strategy always deletes gracefully).

    The first delete sets ``deletionTimestamp`` to now + grace; a later one may only shorten it,
    moving the timestamp back by the difference (never into the past). A grace period of 0 is
    written to the object first and then the object is removed, so watchers see the pod with
    ``deletionGracePeriodSeconds: 0`` before it is gone.
    """
    if requested is not None and requested < 0:
        requested = 1
    meta = pod.metadata
    if meta.deletion_timestamp is not None:
        existing = meta.deletion_grace_period_seconds
        if not existing:
            return DeleteDecision(None, None, remove=True)
        if requested is None or requested >= existing:
            return DeleteDecision(None, None, remove=False)
        period = requested
        timestamp = meta.deletion_timestamp - timedelta(seconds=existing - period)
        if timestamp < now:
            timestamp = now
            if period != 0:
                # The whole grace period has passed: the minimum that is still graceful.
                period = 1
        return DeleteDecision(timestamp, period, remove=period == 0)
    period = graceful_delete_period(pod, requested)
    return DeleteDecision(now + timedelta(seconds=period), period, remove=period == 0)


# The apps/v1 form of the internal DaemonSetSpec.TemplateGeneration (pkg/apis/apps/v1/conversion.go).
TEMPLATE_GENERATION_ANNOTATION = "deprecated.daemonset.template.generation"


def daemonset_template_generation(current: K8sObject | None, new: K8sObject) -> None:
    """The DaemonSet strategy's PrepareForCreate/PrepareForUpdate (pkg/registry/apps/daemonset/
    strategy.go): templateGeneration starts at 1 and goes up by one with each template change, which
    the daemon controller's ``pod-template-generation`` label is compared with."""
    if new.kind != "DaemonSet":
        return
    annotations = dict(new.metadata.annotations or {})
    if current is None:
        annotations.setdefault(TEMPLATE_GENERATION_ANNOTATION, "1")
    else:
        before = int((current.metadata.annotations or {}).get(TEMPLATE_GENERATION_ANNOTATION, "1"))
        annotations[TEMPLATE_GENERATION_ANNOTATION] = str(
            before + 1 if _template(new) != _template(current) else before
        )
    new.metadata.annotations = annotations


def _template(obj: K8sObject) -> object:
    return obj.to_json().get("spec", {}).get("template")


# The labels the Job strategy gives a Job's pods (pkg/registry/batch/job/strategy.go, generateSelector).
JOB_CONTROLLER_UID = "batch.kubernetes.io/controller-uid"
JOB_NAME = "batch.kubernetes.io/job-name"
LEGACY_JOB_LABELS = ("controller-uid", "job-name")


def generate_job_selector(obj: K8sObject) -> None:
    """Without ``manualSelector``, a Job selects its pods by its own uid: the template gets the
    uid and name labels (and their legacy forms), the selector the uid."""
    if not isinstance(obj, Job) or obj.spec.manual_selector:
        return
    uid = obj.metadata.uid or ""
    meta = obj.spec.template.metadata
    meta.labels = {
        **(meta.labels or {}),
        JOB_CONTROLLER_UID: uid,
        JOB_NAME: obj.name,
        LEGACY_JOB_LABELS[0]: uid,
        LEGACY_JOB_LABELS[1]: obj.name,
    }
    obj.spec.selector = LabelSelector(match_labels={JOB_CONTROLLER_UID: uid})
