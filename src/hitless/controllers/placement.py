"""Which node a pod may run on: node selectors, required node affinity, taints and tolerations.

Shared by the scheduler and the DaemonSet controller, as upstream shares
k8s.io/component-helpers/scheduling/corev1/nodeaffinity (GetRequiredNodeAffinity, Match) and
k8s.io/api/core/v1/toleration.go (ToleratesTaint). Pod ``affinity`` and ``tolerations`` are not
typed fields of hitless's PodSpec (kept verbatim as written): they are read here as JSON.
"""

from __future__ import annotations

from typing import Any

from hitless.api.types.node import Node, Taint
from hitless.api.types.pod import PodSpec

UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"  # v1.TaintNodeUnschedulable

Json = dict[str, Any]


def tolerations(spec: PodSpec) -> list[Json]:
    value = (spec.model_extra or {}).get("tolerations")
    return [t for t in value if isinstance(t, dict)] if isinstance(value, list) else []


def affinity(spec: PodSpec) -> Json:
    value = (spec.model_extra or {}).get("affinity")
    return value if isinstance(value, dict) else {}


def set_extra(spec: PodSpec, key: str, value: Any) -> None:
    """Write an untyped PodSpec field (``affinity``, ``tolerations``) as the API would return it."""
    setattr(spec, key, value)


def tolerates(toleration: Json, taint: Taint) -> bool:
    """Toleration.ToleratesTaint."""
    effect, key = toleration.get("effect") or "", toleration.get("key") or ""
    if effect and effect != taint.effect:
        return False
    if key and key != taint.key:
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    return operator == "Equal" and (toleration.get("value") or "") == (taint.value or "")


def untolerated_taint(node: Node, spec: PodSpec, effects: tuple[str, ...]) -> Taint | None:
    """FindMatchingUntoleratedTaint over the taints with one of ``effects``."""
    pod_tolerations = tolerations(spec)
    for taint in node.spec.taints or []:
        if taint.effect in effects and not any(tolerates(t, taint) for t in pod_tolerations):
            return taint
    return None


def _requirement_matches(req: Json, value: str | None) -> bool:
    operator, values = req.get("operator"), [str(v) for v in req.get("values") or []]
    if operator == "In":
        return value is not None and value in values
    if operator == "NotIn":
        return value is None or value not in values
    if operator == "Exists":
        return value is not None
    if operator == "DoesNotExist":
        return value is None
    if operator in ("Gt", "Lt") and value is not None and len(values) == 1:
        try:
            have, want = int(value), int(values[0])
        except ValueError:
            return False
        return have > want if operator == "Gt" else have < want
    return False


def _term_matches(term: Json, node: Node) -> bool:
    expressions = [e for e in term.get("matchExpressions") or [] if isinstance(e, dict)]
    fields = [f for f in term.get("matchFields") or [] if isinstance(f, dict)]
    if not expressions and not fields:
        return False  # an empty term matches no node
    labels = node.metadata.labels or {}
    if not all(_requirement_matches(e, labels.get(str(e.get("key")))) for e in expressions):
        return False
    # metadata.name is the only field a node selector term may name.
    return all(f.get("key") == "metadata.name" and _requirement_matches(f, node.name) for f in fields)


def required_node_affinity_matches(spec: PodSpec, node: Node) -> bool:
    """GetRequiredNodeAffinity(pod).Match(node): nodeSelector, and any one required term."""
    labels = node.metadata.labels or {}
    if any(labels.get(k) != v for k, v in (spec.node_selector or {}).items()):
        return False
    node_affinity = affinity(spec).get("nodeAffinity") or {}
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if not isinstance(required, dict):
        return True
    terms = [t for t in required.get("nodeSelectorTerms") or [] if isinstance(t, dict)]
    return any(_term_matches(t, node) for t in terms)


def target_node_name(spec: PodSpec) -> str | None:
    """util.GetTargetNodeName: the node a DaemonSet pod is for, bound or not yet."""
    if spec.node_name:
        return spec.node_name
    node_affinity = affinity(spec).get("nodeAffinity") or {}
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    for term in required.get("nodeSelectorTerms") or []:
        for f in term.get("matchFields") or []:
            values = f.get("values") or []
            if f.get("key") == "metadata.name" and f.get("operator") == "In" and len(values) == 1:
                return str(values[0])
    return None


def replace_node_name_affinity(spec: PodSpec, node_name: str) -> None:
    """util.ReplaceDaemonSetPodNodeNameNodeAffinity: one required term naming the node by
    ``metadata.name``, replacing whatever required terms the template had (their label
    requirements were already checked against the node by the controller)."""
    match_fields = [{"key": "metadata.name", "operator": "In", "values": [node_name]}]
    current = dict(affinity(spec))
    node_affinity = dict(current.get("nodeAffinity") or {})
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {
        "nodeSelectorTerms": [{"matchFields": match_fields}]
    }
    current["nodeAffinity"] = node_affinity
    set_extra(spec, "affinity", current)


# util.AddOrUpdateDaemonPodTolerations: a DaemonSet's pods stay through these node conditions.
DAEMON_TOLERATIONS: list[Json] = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": UNSCHEDULABLE_TAINT, "operator": "Exists", "effect": "NoSchedule"},
]


def add_daemon_tolerations(spec: PodSpec) -> None:
    current = tolerations(spec)
    for toleration in DAEMON_TOLERATIONS:
        # AddOrUpdateTolerationInPodSpec: one with the same key, operator and effect is replaced.
        current = [
            t
            for t in current
            if not (
                t.get("key") == toleration["key"]
                and (t.get("operator") or "Equal") == toleration["operator"]
                and t.get("effect") == toleration["effect"]
            )
        ]
        current.append(dict(toleration))
    set_extra(spec, "tolerations", current)


def tolerates_unschedulable(spec: PodSpec) -> bool:
    """The NodeUnschedulable plugin lets through a pod that tolerates the unschedulable taint."""
    taint = Taint(key=UNSCHEDULABLE_TAINT, effect="NoSchedule")
    return any(tolerates(t, taint) for t in tolerations(spec))
