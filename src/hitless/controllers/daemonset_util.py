"""What the DaemonSet controller computes without writing anything, after
pkg/controller/daemon/daemon_controller.go (NodeShouldRunDaemonPod, NewPod, predicates,
podByCreationTimestampAndPhase) and pkg/controller/daemon/util/daemonset_util.go
(IsPodUpdated, SurgeCount, UnavailableCount, AllowsSurge)."""

from __future__ import annotations

from datetime import datetime

from hitless.api.types.daemonset import ROLLING_UPDATE, DaemonSet
from hitless.api.types.meta import ObjectMeta
from hitless.api.types.node import Node
from hitless.api.types.pod import Pod
from hitless.controllers import placement
from hitless.controllers.controller_utils import is_pod_available, new_controller_ref, scaled_value
from hitless.controllers.history import CONTROLLER_REVISION_HASH
from hitless.store.strategy import TEMPLATE_GENERATION_ANNOTATION

TEMPLATE_GENERATION_LABEL = "pod-template-generation"  # extensions.DaemonSetTemplateGenerationKey


def template_generation(ds: DaemonSet) -> int | None:
    """GetTemplateGeneration: the API server's templateGeneration, from its v1 annotation."""
    value = (ds.metadata.annotations or {}).get(TEMPLATE_GENERATION_ANNOTATION)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def is_pod_updated(pod: Pod, hash_: str, generation: int | None) -> bool:
    """IsPodUpdated: the pod carries the current revision's hash, or the current template generation."""
    labels = pod.metadata.labels or {}
    template_matches = generation is not None and labels.get(TEMPLATE_GENERATION_LABEL) == str(generation)
    hash_matches = bool(hash_) and labels.get(CONTROLLER_REVISION_HASH) == hash_
    return hash_matches or template_matches


def new_pod(ds: DaemonSet, node_name: str) -> Pod:
    """NewPod: the template's spec with the daemon tolerations, for the predicates."""
    pod = Pod(metadata=ObjectMeta(), spec=ds.spec.template.spec.copy_deep())
    pod.spec.node_name = node_name
    placement.add_daemon_tolerations(pod.spec)
    return pod


def node_should_run_daemon_pod(node: Node, ds: DaemonSet) -> tuple[bool, bool]:
    """NodeShouldRunDaemonPod: (should run, should continue running). A pod that no longer fits
    a node's taints keeps running there unless a NoExecute taint is untolerated."""
    pod = new_pod(ds, node.name)
    if ds.spec.template.spec.node_name not in (None, "", node.name):
        return False, False
    if not placement.required_node_affinity_matches(pod.spec, node):
        return False, False
    if placement.untolerated_taint(node, pod.spec, ("NoSchedule", "NoExecute")) is not None:
        return False, placement.untolerated_taint(node, pod.spec, ("NoExecute",)) is None
    return True, True


def by_creation_and_phase(pod: Pod) -> tuple[int, float, str]:
    """podByCreationTimestampAndPhase: scheduled pods first, then the oldest, then by name."""
    created = pod.metadata.creation_timestamp
    return (0 if pod.spec.node_name else 1, created.timestamp() if created else 0.0, pod.name)


def allows_surge(ds: DaemonSet) -> bool:
    rolling = ds.spec.update_strategy.rolling_update
    return (
        ds.spec.update_strategy.type == ROLLING_UPDATE
        and rolling is not None
        and scaled_value(rolling.max_surge, 1, True) != 0
    )


def surge_count(ds: DaemonSet, desired: int) -> int:
    rolling = ds.spec.update_strategy.rolling_update
    if ds.spec.update_strategy.type != ROLLING_UPDATE or rolling is None:
        return 0
    return scaled_value(rolling.max_surge, desired, True)


def unavailable_count(ds: DaemonSet, desired: int) -> int:
    rolling = ds.spec.update_strategy.rolling_update
    if ds.spec.update_strategy.type != ROLLING_UPDATE or rolling is None:
        return 0
    return scaled_value(rolling.max_unavailable, desired, True)


def daemon_pod_for(ds: DaemonSet, node_name: str, hash_: str) -> Pod:
    """syncNodes' pod: the template, the revision's hash and template generation as labels,
    the daemon tolerations, and a required node affinity naming its node (the scheduler binds it)."""
    template = ds.spec.template
    meta = template.metadata
    labels = {**(meta.labels or {}), CONTROLLER_REVISION_HASH: hash_}
    generation = template_generation(ds)
    if generation is not None:
        labels[TEMPLATE_GENERATION_LABEL] = str(generation)
    pod = Pod(
        metadata=ObjectMeta(
            generate_name=f"{ds.name}-",
            namespace=ds.namespace,
            labels=labels,
            annotations=dict(meta.annotations) if meta.annotations else None,
            finalizers=list(meta.finalizers) if meta.finalizers else None,
            owner_references=[new_controller_ref(ds)],
        ),
        spec=template.spec.copy_deep(),
    )
    placement.add_daemon_tolerations(pod.spec)
    placement.replace_node_name_affinity(pod.spec, node_name)
    return pod


def available(pod: Pod, min_ready_seconds: int, now: datetime) -> bool:
    return is_pod_available(pod, min_ready_seconds, now)
