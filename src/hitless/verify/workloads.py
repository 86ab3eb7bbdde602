"""StatefulSets and DaemonSets under ``hitless verify``: how many pods they want, when their
rollout is done (as ``kubectl rollout status`` judges it), and which one a Service fronts."""

from __future__ import annotations

from hitless.api.types.daemonset import DaemonSet
from hitless.api.types.meta import K8sObject
from hitless.api.types.node import Node
from hitless.api.types.statefulset import StatefulSet
from hitless.controllers.daemonset_util import node_should_run_daemon_pod
from hitless.engine import Engine
from hitless.output.workload_status import daemonset_status, statefulset_status

KINDS = ("Deployment", "StatefulSet", "DaemonSet")


def desired(engine: Engine, kind: str, namespace: str, name: str) -> int | None:
    """The pods a StatefulSet or DaemonSet wants (None for other kinds)."""
    obj = engine.store.get(kind, namespace, name)
    if isinstance(obj, StatefulSet):
        return 1 if obj.spec.replicas is None else obj.spec.replicas
    if isinstance(obj, DaemonSet):
        nodes = [n for n in engine.store.objects("Node") if isinstance(n, Node)]
        return sum(1 for n in nodes if node_should_run_daemon_pod(n, obj)[0])
    return None


def rolled_out(engine: Engine, kind: str, namespace: str, name: str) -> bool | None:
    """``kubectl rollout status`` says done (None for other kinds). An OnDelete set is done once
    its pods are Ready, which the caller checks."""
    obj = engine.store.get(kind, namespace, name)
    if isinstance(obj, StatefulSet):
        return statefulset_status(obj)[1]
    if isinstance(obj, DaemonSet):
        return daemonset_status(obj)[1]
    return None


def template_labels(obj: K8sObject) -> dict[str, str] | None:
    if isinstance(obj, StatefulSet | DaemonSet):
        return obj.spec.template.metadata.labels or {}
    return None
