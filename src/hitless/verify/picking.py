"""Which Service ``hitless verify`` loads and which workload it acts on: input checking that a
local run and a cluster run share, done before anything starts (a problem is exit 2)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hitless.api.types.apps import Deployment
from hitless.api.types.daemonset import DaemonSet
from hitless.api.types.meta import K8sObject
from hitless.api.types.pod import Pod
from hitless.api.types.service import Service
from hitless.api.types.statefulset import StatefulSet
from hitless.verify import workloads as verify_workloads
from hitless.verify.attribute import RunContext
from hitless.verify.scenarios import Workload


@dataclass
class Picked:
    """The Service to load, the workload behind it (None: the manifests have none it selects),
    and what attribution needs to know of both."""

    service: Service
    workload: Workload | None
    context: RunContext


def pick(objects: Sequence[K8sObject], service: str | None, workload: str | None) -> Picked | str:
    """``--service`` and ``--workload`` (None: the only one), or why they name nothing to load."""
    picked = pick_service(objects, service)
    if isinstance(picked, str):
        return picked
    chosen, context = pick_workload(picked, objects, workload)
    if isinstance(chosen, str):
        return chosen
    return Picked(picked, chosen, context)


def pick_service(objects: Sequence[K8sObject], name: str | None) -> Service | str:
    """The Service to load, or why there is none."""
    services = [o for o in objects if isinstance(o, Service)]
    names = ", ".join(s.name for s in services)
    if name is not None:
        named = [s for s in services if s.name == name]
        if not named:
            known = f" (the manifests have: {names})" if services else " (the manifests have none)"
            return f'services "{name}" not found{known}'
        services = named
    if not services:
        return "no Service to load in the manifests (hitless verify sends its load through a Service)"
    if len(services) > 1:
        return f"{len(services)} Services in the manifests ({names}): name the one to load with --service"
    service = services[0]
    kind = service.spec.type or "ClusterIP"
    if kind == "ExternalName":
        return f'Service "{service.name}" is of type ExternalName: it has no endpoints to load'
    if service.spec.cluster_ip == "None":
        return f'Service "{service.name}" is headless (clusterIP: None): it has no virtual IP to load'
    ports = service.spec.ports or []
    if not ports or (ports[0].protocol or "TCP") != "TCP":
        return f'Service "{service.name}": its first port must be TCP (the load is HTTP)'
    return service


def pick_workload(
    service: Service, objects: Sequence[K8sObject], wanted: str | None = None
) -> tuple[Workload | str | None, RunContext]:
    selector = service.spec.selector or {}
    ns = service.namespace or "default"

    def selects(pod: Pod) -> bool:
        labels = pod.metadata.labels or {}
        return (
            bool(selector)
            and (pod.namespace or "default") == ns
            and all(labels.get(k) == v for k, v in selector.items())
        )

    context = RunContext(
        service=f"{ns}/{service.name}",
        external_traffic_policy=service.spec.external_traffic_policy,
        publish_not_ready_addresses=bool(service.spec.publish_not_ready_addresses),
    )
    for obj in objects:
        if _other_workload(obj, selector, wanted, context) is not None:
            return Workload(ns, obj.name, selects, kind=obj.kind), context
        if wanted is not None and not _is_wanted(obj, wanted):
            continue
        if isinstance(obj, Deployment):
            labels = obj.spec.template.metadata.labels if obj.spec.template.metadata else None
            if selector and all((labels or {}).get(k) == v for k, v in selector.items()):
                context.workload = ("Deployment", obj.name)
                context.strategy = obj.spec.strategy.type or "RollingUpdate"
                context.desired_replicas = obj.spec.replicas if obj.spec.replicas is not None else 1
                return Workload(ns, obj.name, selects), context
    if wanted is not None:
        problem = f'--workload {wanted}: no such Deployment, StatefulSet or DaemonSet behind "{service.name}"'
        return problem, context
    pods = [o for o in objects if isinstance(o, Pod) and selects(o)]
    if pods:
        context.workload = ("Pod", pods[0].name)
        context.desired_replicas = len(pods)
        return Workload(ns, None, selects), context
    return None, context


def _is_wanted(obj: K8sObject, wanted: str) -> bool:
    kind, _, name = wanted.partition("/")
    return obj.kind.lower() == kind.lower().removesuffix(".apps") and obj.name == name


def _other_workload(
    obj: K8sObject, selector: dict[str, str], wanted: str | None, context: RunContext
) -> K8sObject | None:
    """A StatefulSet or DaemonSet whose pods the Service selects (and --workload names, if given)."""
    labels = verify_workloads.template_labels(obj)
    if labels is None or not selector or any(labels.get(k) != v for k, v in selector.items()):
        return None
    if wanted is not None and not _is_wanted(obj, wanted):
        return None
    assert isinstance(obj, StatefulSet | DaemonSet)
    context.workload = (obj.kind, obj.name)
    context.strategy = obj.spec.update_strategy.type or "RollingUpdate"
    replicas = obj.spec.replicas if isinstance(obj, StatefulSet) else None
    context.desired_replicas = replicas if replicas is not None else 1
    return obj
