"""What the StatefulSet controller knows of its pods, after
pkg/controller/statefulset/stateful_set_utils.go: ordinals from names, identity (name, hostname,
subdomain, the pod-name and pod-index labels), storage (one claim per template per ordinal),
revisions (ControllerRevisions of the template), availability.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from hitless.api.types.controllerrevision import ControllerRevision
from hitless.api.types.meta import K8sObject, ObjectMeta, OwnerReference
from hitless.api.types.pod import Pod, PodStatus, PodTemplateSpec
from hitless.api.types.statefulset import PARALLEL, ROLLING_UPDATE, StatefulSet
from hitless.controllers.controller_utils import is_pod_available, is_pod_ready, new_controller_ref
from hitless.controllers.history import CONTROLLER_REVISION_HASH, get_patch, new_revision
from hitless.controllers.placement import set_extra

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"  # apps.StatefulSetPodNameLabel
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"  # apps.PodIndexLabel (GA in 1.32)

_STATEFUL_POD = re.compile(r"(.*)-([0-9]+)$")


def parent_and_ordinal(pod: K8sObject) -> tuple[str, int]:
    """getParentNameAndOrdinal: ("", -1) for a name that is not ``<set>-<ordinal>``."""
    m = _STATEFUL_POD.fullmatch(pod.name)
    if m is None:
        return "", -1
    ordinal = int(m.group(2))
    return m.group(1), ordinal if ordinal < 2**31 else -1


def ordinal_of(pod: K8sObject) -> int:
    return parent_and_ordinal(pod)[1]


def pod_name(s: StatefulSet, ordinal: int) -> str:
    return f"{s.name}-{ordinal}"


def claim_name(s: StatefulSet, template_name: str, ordinal: int) -> str:
    """getPersistentVolumeClaimName: ``<template>-<set>-<ordinal>``."""
    return f"{template_name}-{s.name}-{ordinal}"


def is_member_of(s: StatefulSet, pod: Pod) -> bool:
    return parent_and_ordinal(pod)[0] == s.name


def start_ordinal(s: StatefulSet) -> int:
    return s.spec.ordinals.start if s.spec.ordinals is not None else 0


def replicas_of(s: StatefulSet) -> int:
    return s.spec.replicas if s.spec.replicas is not None else 1


def end_ordinal(s: StatefulSet) -> int:
    return start_ordinal(s) + replicas_of(s) - 1


def in_ordinal_range(pod: Pod, s: StatefulSet) -> bool:
    return start_ordinal(s) <= ordinal_of(pod) <= end_ordinal(s)


def allows_burst(s: StatefulSet) -> bool:
    return s.spec.pod_management_policy == PARALLEL


def template_names(s: StatefulSet) -> list[str]:
    return [str((t.get("metadata") or {}).get("name") or "") for t in s.spec.volume_claim_templates or []]


def identity_matches(s: StatefulSet, pod: Pod) -> bool:
    parent, ordinal = parent_and_ordinal(pod)
    labels = pod.metadata.labels or {}
    return (
        ordinal >= 0
        and parent == s.name
        and pod.name == pod_name(s, ordinal)
        and pod.namespace == s.namespace
        and labels.get(POD_NAME_LABEL) == pod.name
        and labels.get(POD_INDEX_LABEL) == str(ordinal)
    )


def update_identity(s: StatefulSet, pod: Pod) -> None:
    ordinal = ordinal_of(pod)
    pod.metadata.name = pod_name(s, ordinal)
    pod.metadata.namespace = s.namespace
    pod.metadata.labels = {
        **(pod.metadata.labels or {}),
        POD_NAME_LABEL: pod.name,
        POD_INDEX_LABEL: str(ordinal),
    }


def _volumes(pod: Pod) -> list[dict[str, Any]]:
    value = (pod.spec.model_extra or {}).get("volumes")
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def storage_matches(s: StatefulSet, pod: Pod) -> bool:
    ordinal = ordinal_of(pod)
    if ordinal < 0:
        return False
    volumes = {v.get("name"): v for v in _volumes(pod)}
    for name in template_names(s):
        claim = (volumes.get(name) or {}).get("persistentVolumeClaim") or {}
        if claim.get("claimName") != claim_name(s, name, ordinal):
            return False
    return True


def update_storage(s: StatefulSet, pod: Pod) -> None:
    """updateStorage: a persistentVolumeClaim volume per claim template, replacing a volume of the
    template's name that the pod template may have had."""
    names = template_names(s)
    if not names:
        return
    ordinal = ordinal_of(pod)
    claims = [
        {"name": name, "persistentVolumeClaim": {"claimName": claim_name(s, name, ordinal)}} for name in names
    ]
    set_extra(pod.spec, "volumes", claims + [v for v in _volumes(pod) if v.get("name") not in names])


def new_stateful_pod(s: StatefulSet, template: PodTemplateSpec, ordinal: int) -> Pod:
    """newStatefulSetPod: GetPodFromTemplate, then initIdentity (hostname and subdomain are set
    only here, at creation) and updateStorage. No phase: it exists only once created."""
    meta = template.metadata
    pod = Pod(
        metadata=ObjectMeta(
            name=pod_name(s, ordinal),
            namespace=s.namespace,
            labels=dict(meta.labels or {}),
            annotations=dict(meta.annotations) if meta.annotations else None,
            finalizers=list(meta.finalizers) if meta.finalizers else None,
            owner_references=[new_controller_ref(s)],
        ),
        spec=template.spec.copy_deep(),
        status=PodStatus(),
    )
    update_identity(s, pod)
    pod.spec.hostname = pod.name
    pod.spec.subdomain = s.spec.service_name or None
    update_storage(s, pod)
    return pod


def pod_revision(pod: Pod) -> str:
    return (pod.metadata.labels or {}).get(CONTROLLER_REVISION_HASH, "")


def set_pod_revision(pod: Pod, revision: str) -> None:
    pod.metadata.labels = {**(pod.metadata.labels or {}), CONTROLLER_REVISION_HASH: revision}


def revision_for(s: StatefulSet, revision: int, collision_count: int | None) -> ControllerRevision:
    """newRevision: the set's template as a ControllerRevision (the template's labels on it)."""
    return new_revision(s, s.spec.template.metadata.labels, get_patch(s), revision, collision_count)


def apply_revision(s: StatefulSet, revision: ControllerRevision) -> StatefulSet:
    """ApplyRevision: the set with the template the revision recorded."""
    template = dict(((revision.data or {}).get("spec") or {}).get("template") or {})
    template.pop("$patch", None)
    out = s.copy_deep()
    out.spec.template = PodTemplateSpec.model_validate(template)
    return out


def new_versioned_pod(
    current_set: StatefulSet,
    update_set: StatefulSet,
    current_revision: str,
    update_revision: str,
    ordinal: int,
) -> Pod:
    """newVersionedStatefulSetPod: below the partition (or, without rollingUpdate, below the
    current replicas) a missing pod is created at the current revision, else at the update one."""
    strategy = current_set.spec.update_strategy
    rolling = strategy.rolling_update
    start = start_ordinal(current_set)
    current = (
        strategy.type == ROLLING_UPDATE
        and rolling is None
        and ordinal < start + (current_set.status.current_replicas or 0)
    ) or (rolling is not None and ordinal < start + (rolling.partition or 0))
    chosen, revision = (current_set, current_revision) if current else (update_set, update_revision)
    pod = new_stateful_pod(chosen, chosen.spec.template, ordinal)
    set_pod_revision(pod, revision)
    return pod


# --- pod states ------------------------------------------------------------------------------


def is_created(pod: Pod) -> bool:
    return bool(pod.status.phase)


def is_terminating(pod: Pod) -> bool:
    return pod.metadata.deletion_timestamp is not None


def is_running_and_ready(pod: Pod) -> bool:
    return pod.status.phase == "Running" and is_pod_ready(pod)


def is_running_and_available(pod: Pod, min_ready_seconds: int, now: datetime) -> bool:
    return pod.status.phase == "Running" and is_pod_available(pod, min_ready_seconds, now)


def is_unavailable(pod: Pod, min_ready_seconds: int, now: datetime) -> bool:
    """isUnavailable: not available, or terminating."""
    return not is_pod_available(pod, min_ready_seconds, now) or is_terminating(pod)


def owned_by(obj: K8sObject, owner: K8sObject) -> bool:
    return any(r.uid == owner.metadata.uid for r in obj.metadata.owner_references or [])


def non_controller_ref(owner: K8sObject) -> OwnerReference:
    """The reference a retention policy puts on a claim: an owner, not its controller."""
    return OwnerReference(
        api_version=owner.api_version, kind=owner.kind, name=owner.name, uid=owner.metadata.uid or ""
    )
