"""What the rules look at: the input's workloads and Services, how they relate, and the parameters.

Built from the loader's result. Valid objects come typed and defaulted. An object the API server
would reject is a finding of its own (``invalid-object``), and is also read leniently (a number
where a string belongs is taken as that string, the API server's defaults applied), so that the
mistakes the author will meet once it is accepted are reported now, in the same run.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pydantic

from hitless.api import LoadResult, SourceMap
from hitless.api.defaults import apply_defaults
from hitless.api.types.apps import Deployment
from hitless.api.types.daemonset import DaemonSet
from hitless.api.types.generic import GenericObject
from hitless.api.types.job import CronJob, Job
from hitless.api.types.meta import K8sObject, LabelSelector
from hitless.api.types.pod import Container, Pod, PodSpec
from hitless.api.types.policy import PodDisruptionBudget
from hitless.api.types.service import Service
from hitless.api.types.statefulset import StatefulSet
from hitless.api.yamlsource import json_normalize
from hitless.check.finding import Finding, Number, Severity
from hitless.check.rule import Rule
from hitless.check.traffic import LoadBalancerPreset

log = logging.getLogger(__name__)

_TYPES: dict[str, type[K8sObject]] = {"Pod": Pod, "Deployment": Deployment, "Service": Service}
_TYPES |= {"StatefulSet": StatefulSet, "DaemonSet": DaemonSet}
# Kinds hitless does not model whose pods a Service may select: ``spec.template`` (or, for a
# CronJob, ``spec.jobTemplate.spec.template``) holds their labels.
_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}


@dataclass(frozen=True)
class Params:
    propagation_s: float
    lb: LoadBalancerPreset
    nodes: int


@dataclass(frozen=True)
class RawDoc:
    """A document (or ``List`` item) as written, for objects the loader did not type."""

    file: str
    line: int
    value: dict[str, Any]
    source: SourceMap


@dataclass(eq=False)  # identity: objects compare as themselves, never field by field
class Obj:
    kind: str
    name: str
    namespace: str
    file: str
    line: int
    source: SourceMap
    annotations: dict[str, str]
    valid: bool

    def line_of(self, path: str) -> int:
        return self.source.line_of(path) if path else self.line


@dataclass(eq=False)
class Workload:
    """A Pod, or a Deployment's pod template, with what a Service and a rollout see of it."""

    obj: Obj
    pod_path: str  # the PodSpec's field path: "spec" or "spec.template.spec"
    labels: dict[str, str]
    spec: PodSpec
    replicas: int
    deployment: Deployment | None
    # A StatefulSet or DaemonSet whose pod template this is (a DaemonSet counts one pod per node).
    controller: StatefulSet | DaemonSet | None = None

    def containers(self) -> Iterator[tuple[Container, str]]:
        """App containers and sidecars (restartable init containers), with their field paths."""
        for i, c in enumerate(self.spec.init_containers or []):
            if c.restart_policy == "Always":
                yield c, f"{self.pod_path}.initContainers[{i}]"
        for i, c in enumerate(self.spec.containers):
            yield c, f"{self.pod_path}.containers[{i}]"

    @property
    def grace_s(self) -> int:
        tgps = self.spec.termination_grace_period_seconds
        return 30 if tgps is None else tgps


@dataclass(eq=False)
class ServiceObj:
    obj: Obj
    service: Service

    @property
    def selector(self) -> dict[str, str]:
        return self.service.spec.selector or {}


@dataclass
class Pdb:
    namespace: str
    selector: LabelSelector | None
    name: str
    # The loaded PodDisruptionBudget and where it is (None: read leniently from an invalid one).
    pdb: PodDisruptionBudget | None = None
    obj: Obj | None = None


@dataclass
class Context:
    params: Params
    result: LoadResult
    objects: list[Obj] = field(default_factory=list)
    workloads: list[Workload] = field(default_factory=list)
    services: list[ServiceObj] = field(default_factory=list)
    pdbs: list[Pdb] = field(default_factory=list)
    other_templates: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    # Every valid object with where it is, for the rules about kinds hitless only stores (HPAs,
    # ConfigMaps, Secrets).
    loaded: list[tuple[Obj, K8sObject]] = field(default_factory=list)
    _selected: dict[int, list[Workload]] = field(default_factory=dict)
    _label_index: dict[tuple[str, str, str], list[Workload]] = field(default_factory=dict)
    _services_of: dict[int, list[ServiceObj]] = field(default_factory=dict)

    def selected_by(self, svc: ServiceObj) -> list[Workload]:
        """The workloads whose pods the Service's selector matches (an empty selector: none,
        the Service's endpoints are managed by hand)."""
        key = id(svc)
        if key not in self._selected:
            sel = svc.selector
            self._selected[key] = (
                [
                    w
                    for w in self._by_label(svc.obj.namespace, sel)
                    if all(w.labels.get(k) == v for k, v in sel.items())
                ]
                if sel
                else []
            )
        return self._selected[key]

    def _by_label(self, namespace: str, selector: dict[str, str]) -> list[Workload]:
        """Candidates carrying one of the selector's labels: an index, so that matching every
        Service against every workload does not grow with their product."""
        if not self._label_index:
            for w in self.workloads:
                for item in w.labels.items():
                    self._label_index.setdefault((w.obj.namespace, *item), []).append(w)
        k, v = next(iter(selector.items()))
        return self._label_index.get((namespace, k, v), [])

    def presumed_for(self, svc: ServiceObj) -> list[Workload]:
        """For a Service whose selector matches nothing: the workloads of its own name in its
        namespace, which it was presumably written for (``kubectl run nginx`` labels ``run=nginx``),
        so that the traffic rules still say what would happen once the labels are fixed."""
        if self.selected_by(svc):
            return []
        return [
            w for w in self.workloads if w.obj.name == svc.obj.name and w.obj.namespace == svc.obj.namespace
        ]

    def targets(self, svc: ServiceObj) -> list[Workload]:
        return self.selected_by(svc) or self.presumed_for(svc)

    def services_of(self, workload: Workload) -> list[ServiceObj]:
        """The Services that send it traffic (or were presumably written to)."""
        if not self._services_of and self.services:
            for s in self.services:
                for w in self.targets(s):
                    self._services_of.setdefault(id(w), []).append(s)
            self._services_of[0] = []  # built, even when no Service targets anything
        return self._services_of.get(id(workload), [])

    def via(self, svc: ServiceObj, workload: Workload) -> str:
        """How a Service relates to a workload, for messages."""
        if workload in self.selected_by(svc):
            return f'Service "{svc.obj.name}" (line {svc.obj.line}) selects it'
        return (
            f'Service "{svc.obj.name}" (line {svc.obj.line}) is presumably meant for it '
            "(its selector matches no pod yet)"
        )

    def of_kind(self, kind: str) -> list[tuple[Obj, K8sObject]]:
        return [(o, k) for o, k in self.loaded if o.kind == kind]

    def finding(
        self,
        rule: Rule,
        obj: Obj,
        path: str,
        message: str,
        *,
        severity: Severity | None = None,
        numbers: dict[str, Number] | None = None,
        fix: str | None = None,
        behaviour: str | None = None,
    ) -> Finding:
        return Finding(
            rule=rule.id,
            severity=severity or rule.severity,
            message=message,
            file=obj.file,
            line=obj.line_of(path),
            kind=obj.kind,
            name=obj.name,
            namespace=obj.namespace,
            field=path or None,
            behaviour=behaviour or rule.behaviour,
            fix=fix or rule.fix,
            numbers=numbers or {},
        )


def build_context(result: LoadResult, raw_docs: list[RawDoc], params: Params) -> Context:
    ctx = Context(params=params, result=result)
    for loaded in result.objects:
        obj = loaded.obj
        annotations = dict(obj.metadata.annotations or {})
        located = Obj(
            obj.kind, obj.name, obj.namespace, loaded.file, loaded.line, loaded.source, annotations, True
        )
        _add(ctx, obj, located)
        ctx.loaded.append((located, obj))
    invalid_lines = {
        (e.file, e.object_line)
        for e in result.errors
        if e.category in ("decode", "invalid") and e.object_line and e.kind in _TYPES
    }
    for doc in raw_docs:
        where = (doc.file, doc.line)
        if where in invalid_lines:
            lenient = _lenient(doc.value)
            if lenient is not None:
                _add(
                    ctx,
                    lenient,
                    Obj(
                        lenient.kind,
                        lenient.name,
                        lenient.namespace,
                        doc.file,
                        doc.line,
                        doc.source,
                        dict(lenient.metadata.annotations or {}),
                        False,
                    ),
                )
    order = {id(o): i for i, o in enumerate(ctx.objects)}
    ctx.objects.sort(key=lambda o: (o.file, o.line))
    ctx.workloads.sort(key=lambda w: (w.obj.file, w.obj.line, order[id(w.obj)]))
    ctx.services.sort(key=lambda s: (s.obj.file, s.obj.line))
    return ctx


def _add(ctx: Context, k8s: K8sObject, obj: Obj) -> None:
    ctx.objects.append(obj)
    if isinstance(k8s, Pod):
        ctx.workloads.append(Workload(obj, "spec", dict(k8s.metadata.labels or {}), k8s.spec, 1, None))
    elif isinstance(k8s, Deployment):
        template = k8s.spec.template
        # Suppressions written on the pod template count too, as kube-score reads them there.
        obj.annotations = {**(template.metadata.annotations or {}), **obj.annotations}
        ctx.workloads.append(
            Workload(
                obj,
                "spec.template.spec",
                dict(template.metadata.labels or {}),
                template.spec,
                1 if k8s.spec.replicas is None else k8s.spec.replicas,
                k8s,
            )
        )
    elif isinstance(k8s, StatefulSet | DaemonSet):
        template = k8s.spec.template
        obj.annotations = {**(template.metadata.annotations or {}), **obj.annotations}
        if isinstance(k8s, StatefulSet):
            replicas = 1 if k8s.spec.replicas is None else k8s.spec.replicas
        else:
            replicas = ctx.params.nodes  # one per node, as check assumes every node runs it
        labels = dict(template.metadata.labels or {})
        ctx.workloads.append(Workload(obj, "spec.template.spec", labels, template.spec, replicas, None, k8s))
    elif isinstance(k8s, Job | CronJob):
        # Run to completion: not a Service's workload for the rules, but its labels are selected.
        template = k8s.spec.template if isinstance(k8s, Job) else k8s.spec.job_template.spec.template
        ctx.other_templates.append((obj.namespace, dict(template.metadata.labels or {})))
    elif isinstance(k8s, Service):
        ctx.services.append(ServiceObj(obj, k8s))
    elif isinstance(k8s, PodDisruptionBudget):
        ctx.pdbs.append(Pdb(k8s.namespace, k8s.spec.selector, k8s.name, k8s, obj))
    elif isinstance(k8s, GenericObject) and k8s.kind in _TEMPLATE_PATHS:
        _add_template(ctx, k8s.to_json(), k8s.namespace)


def _lenient(value: dict[str, Any]) -> K8sObject | None:
    """The object as the author meant it, or None when even that cannot be made out."""
    cls = _TYPES.get(str(value.get("kind")))
    if cls is None:
        return None
    decoded = json_normalize(copy.deepcopy(value))
    try:
        apply_defaults(decoded)
    except Exception:  # defaulting assumes decoded types; an odd value only loses some defaults
        log.debug("defaults not applied to an invalid %s", cls.__name__, exc_info=True)
    for _ in range(50):
        try:
            return cls.model_validate(decoded)
        except pydantic.ValidationError as e:
            if not _repair(decoded, e):
                return None
    return None


def _repair(value: Any, error: pydantic.ValidationError) -> bool:
    """Turn the scalars pydantic refused as strings into strings (``command: [sleep, 30]``)."""
    repaired = False
    for err in error.errors():
        if err["type"] != "string_type" or not isinstance(err["input"], int | float | bool):
            continue
        *parents, last = err["loc"]
        holder = value
        try:
            for seg in parents:
                holder = holder[seg]
            holder[last] = str(err["input"]).lower() if isinstance(err["input"], bool) else str(err["input"])
        except (KeyError, IndexError, TypeError):
            continue
        repaired = True
    return repaired


def _add_template(ctx: Context, value: dict[str, Any], namespace: str) -> None:
    """The pod template's labels of a workload kind hitless does not model."""
    path = _TEMPLATE_PATHS.get(str(value.get("kind")))
    node: Any = value
    for seg in path or ():
        node = node.get(seg) if isinstance(node, dict) else None
    if isinstance(node, dict):
        labels = (
            (node.get("metadata") or {}).get("labels") if isinstance(node.get("metadata"), dict) else None
        )
        if isinstance(labels, dict):
            ctx.other_templates.append((namespace, {str(k): str(v) for k, v in labels.items()}))
