"""What ``kubectl apply -f FILES --prune``, ``kubectl rollout restart`` and ``kubectl scale`` do to
the store.

Apply is client-side apply in miniature: each object is merged three ways — the live object, the
object as last applied, the object as applied now — so that a key removed from the manifest is
removed, and what others set (the controllers' annotations, ``restartedAt``, a cluster IP) is
kept. Maps merge key by key; lists and scalars are replaced. Objects that were applied before and
are no longer in the manifests are deleted (``--prune``): a Pod gracefully, a Deployment with its
ReplicaSets and their pods through the garbage collector. Updates the API server refuses are
refused with its message, and nothing of that object changes: a Pod's spec (beyond what pods
allow), a Deployment's selector.

Deviations: the last-applied objects are the defaulted ones and are kept here, not in a
``kubectl.kubernetes.io/last-applied-configuration`` annotation; so a field deleted from the
manifest takes its default value (``replicas: 1``) where kubectl would leave the live value. And
an apply is all or nothing: kubectl applies the objects the API server accepts and reports the
others (then skips the prune), but a half-applied save under ``hitless up`` would leave a workload
that is neither the old one nor the new, so every object is checked before any is written.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from hitless.api import errors, gofmt, kinds
from hitless.api.types.apps import Deployment
from hitless.api.types.base import format_time
from hitless.api.types.generic import GenericObject
from hitless.api.types.meta import K8sObject
from hitless.api.validation.config import immutable_update_errors
from hitless.clock import Clock
from hitless.store.store import NotFound, Store

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
Key = tuple[str, str, str]
# Set by the API server or by controllers: never part of what is applied.
_SERVER_METADATA = {"uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp",
                    "deletionGracePeriodSeconds", "ownerReferences", "finalizers"}  # fmt: skip
POD_SPEC_FORBIDDEN = (
    "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions "
    "to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was "
    "previously negative)"
)


def resource_name(obj: K8sObject) -> str:
    """``deployment.apps/web``, ``pod/web``: how kubectl names what it applied."""
    group = kinds.split_api_version(obj.api_version)[0]
    kind = obj.kind.lower()
    return f"{kind}.{group}/{obj.name}" if group else f"{kind}/{obj.name}"


# The strategic-merge keys of the pod lists that others add to after a create (the API server's
# ServiceAccount admission adds a volume and a mount to every container): an item of the live list
# that neither the last applied nor the new manifest names is kept, as kubectl's patch keeps it.
_MERGE_KEYS = {"containers": "name", "initContainers": "name", "volumes": "name", "volumeMounts": "mountPath"}


def merge(live: Any, last: Any, new: Any, field: str = "") -> Any:
    """A three-way merge of JSON values: what ``last`` had and ``new`` lacks is removed."""
    key_name = _MERGE_KEYS.get(field)
    if key_name is not None and isinstance(new, list) and isinstance(live, list):
        return _merge_list(live, last if isinstance(last, list) else [], new, key_name)
    if not isinstance(new, dict) or not isinstance(live, dict):
        return new
    last = last if isinstance(last, dict) else {}
    out = dict(live)
    for key in last:
        if key not in new:
            out.pop(key, None)
    for key, value in new.items():
        out[key] = merge(live.get(key), last.get(key), value, key)
    return out


def _merge_list(live: list[Any], last: list[Any], new: list[Any], key: str) -> list[Any]:
    def keyed(items: list[Any]) -> dict[Any, Any]:
        return {i.get(key): i for i in items if isinstance(i, dict)}

    live_by, last_by = keyed(live), keyed(last)
    named = {i.get(key) for i in new if isinstance(i, dict)}
    out = [
        merge(live_by.get(i.get(key)), last_by.get(i.get(key)), i) if isinstance(i, dict) else i for i in new
    ]
    out += [i for k, i in live_by.items() if k not in named and k not in last_by]
    return out


class ApplyError(Exception):
    pass


@dataclass
class ApplyResult:
    # kubectl's lines: "deployment.apps/web configured", "pod/old pruned"...
    lines: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    objects: list[K8sObject] = field(default_factory=list)


class Applier:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._last: dict[Key, dict[str, Any]] = {}

    def remember(self, objects: Iterable[K8sObject]) -> Iterator[K8sObject]:
        """Record objects created by other means (the first start) as applied, passing them on."""
        for obj in objects:
            self._last[obj.key] = _applied_json(obj)
            yield obj

    def apply(
        self,
        objects: Iterable[K8sObject],
        prune: bool = True,
        prune_scope: Collection[Key] | None = None,
    ) -> ApplyResult:
        """Apply every object, or none: when one is refused, ``errors`` says why and nothing
        changed. Then, with ``prune``, delete what was applied before and is not now (only what
        is in ``prune_scope`` when given: objects read once from stdin cannot be re-read)."""
        result = ApplyResult()
        plans: list[tuple[K8sObject, K8sObject | None]] = []
        for obj in objects:
            if obj.metadata.namespace is None and obj.namespaced():
                obj = obj.copy_deep()
                obj.metadata.namespace = "default"
            try:
                plans.append((obj, self._plan_one(obj)))
            except ApplyError as exc:
                result.errors.append(f"{resource_name(obj)}: {exc}")
        if result.errors:
            return result
        applied: set[Key] = set()
        for obj, update in plans:
            applied.add(obj.key)
            live = self._store.get(*obj.key)
            if update is None:
                stored, action = self._store.create(obj), "created"
            else:
                stored = self._store.update(update)
                unchanged = (
                    live is not None and stored.metadata.resource_version == live.metadata.resource_version
                )
                action = "unchanged" if unchanged else "configured"
            self._last[obj.key] = _applied_json(obj)
            result.objects.append(stored)
            result.lines.append(f"{resource_name(obj)} {action}")
        if prune:
            for key in [k for k in self._last if k not in applied]:
                if prune_scope is not None and key not in prune_scope:
                    continue
                kind, namespace, name = key
                del self._last[key]
                try:
                    gone = self._store.delete(kind, namespace, name)
                except NotFound:
                    continue
                result.lines.append(f"{resource_name(gone)} pruned")
        return result

    def _plan_one(self, obj: K8sObject) -> K8sObject | None:
        """The object to write over the live one (None: create ``obj``); ApplyError if refused."""
        live = self._store.get(*obj.key)
        if live is None:
            return None
        if live.metadata.deletion_timestamp is not None:
            raise ApplyError("object is being deleted; apply again once it is gone")
        live_json = live.to_json()
        live_json.pop("status", None)
        merged = merge(live_json, self._last.get(obj.key), _applied_json(obj))
        self._check_update(live, live_json, merged)
        try:
            updated = type(live).from_json(merged)
        except ValueError as exc:
            # The merge kept a live field the new manifest's type no longer allows.
            raise ApplyError(str(exc)) from exc
        if isinstance(live, GenericObject) and isinstance(updated, GenericObject):
            updated.set_namespaced(live.namespaced())  # a custom resource's scope, from its CRD
        return updated

    @staticmethod
    def _check_update(live: K8sObject, live_json: dict[str, Any], merged: dict[str, Any]) -> None:
        """The API server's update validation, for the fields hitless knows to be immutable."""
        if live.kind == "Pod":
            before, after = dict(live_json.get("spec") or {}), dict(merged.get("spec") or {})
            # Set by the scheduler's binding, not by the manifest (absent until the pod is bound).
            if "nodeName" in before:
                after.setdefault("nodeName", before["nodeName"])
            if before == after:
                return
            if _without_images(before) == _without_images(after):
                # The API server takes it, and the kubelet would restart the container; this
                # kubelet does not, so refusing beats a spec that says what does not run.
                raise ApplyError(
                    f'The Pod "{live.name}": an image change of a running Pod is not supported by '
                    "hitless; run it from a Deployment, or delete the Pod and apply again"
                )
            raise ApplyError(f'The Pod "{live.name}" is invalid: {POD_SPEC_FORBIDDEN}')
        elif live.kind in ("ConfigMap", "Secret") and live.api_version == "v1":
            # ValidateConfigMapUpdate / ValidateSecretUpdate: an immutable one keeps its data.
            problems = immutable_update_errors(live.kind, live_json, merged)
            if problems:
                raise ApplyError(f"The {errors.invalid_message(live.kind, live.name, problems)}")
        elif live.kind == "StatefulSet":
            _check_statefulset_update(live, live_json, merged)
        elif live.kind in ("Deployment", "DaemonSet"):
            before_sel = (live_json.get("spec") or {}).get("selector")
            after_sel = (merged.get("spec") or {}).get("selector")
            if before_sel != after_sel:
                raise ApplyError(
                    f'The {live.kind} "{live.name}" is invalid: spec.selector: Invalid value: '
                    f"{gofmt.label_selector(after_sel)}: field is immutable"
                )


def _without_images(spec: dict[str, Any]) -> dict[str, Any]:
    out = dict(spec)
    for key in ("containers", "initContainers"):
        if isinstance(out.get(key), list):
            out[key] = [{**c, "image": None} if isinstance(c, dict) else c for c in out[key]]
    return out


def _applied_json(obj: K8sObject) -> dict[str, Any]:
    data = obj.to_json()
    data.pop("status", None)
    meta = data.get("metadata") or {}
    for key in _SERVER_METADATA:
        meta.pop(key, None)
    return data


def rollout_restart(store: Store, clock: Clock, namespace: str, name: str) -> Deployment:
    """``kubectl rollout restart deployment/NAME``: a new ``restartedAt`` template annotation, so a
    new pod template hash and an ordinary rollout by the Deployment's strategy."""
    current = store.get_typed(Deployment, "Deployment", namespace, name)
    if current is None:
        raise NotFound(f'deployments.apps "{name}" not found')
    if current.spec.paused:
        raise ValueError("can't restart paused deployment (run rollout resume first)")
    d = current.copy_deep()
    meta = d.spec.template.metadata
    meta.annotations = {**(meta.annotations or {}), RESTARTED_AT: format_time(clock.wall())}
    return store.update(d)


def scale(store: Store, namespace: str, name: str, replicas: int) -> Deployment:
    """``kubectl scale deployment/NAME --replicas=N`` (the scale subresource)."""
    current = store.get_typed(Deployment, "Deployment", namespace, name)
    if current is None:
        raise NotFound(f'deployments.apps "{name}" not found')
    if replicas < 0:
        raise ValueError(f"spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0")
    d = current.copy_deep()
    d.spec.replicas = replicas
    return store.update(d)


def rollout_restart_workload(store: Store, clock: Clock, kind: str, namespace: str, name: str) -> K8sObject:
    """``kubectl rollout restart KIND/NAME`` for a Deployment, StatefulSet or DaemonSet: the same
    ``restartedAt`` template annotation (kubectl's defaultObjectRestarter), so a new revision that
    each controller rolls out by its own strategy."""
    if kind == "Deployment":
        return rollout_restart(store, clock, namespace, name)
    current = store.get(kind, namespace, name)
    template = getattr(getattr(current, "spec", None), "template", None)
    if current is None or template is None:
        raise NotFound(f'{kind.lower()}s.apps "{name}" not found')
    obj = current.copy_deep()
    meta = obj.spec.template.metadata  # type: ignore[attr-defined]
    meta.annotations = {**(meta.annotations or {}), RESTARTED_AT: format_time(clock.wall())}
    return store.update(obj)


# ValidateStatefulSetUpdate: only these spec fields may change.
_STATEFULSET_MUTABLE = (
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
)


def _check_statefulset_update(live: K8sObject, live_json: dict[str, Any], merged: dict[str, Any]) -> None:
    before = {k: v for k, v in (live_json.get("spec") or {}).items() if k not in _STATEFULSET_MUTABLE}
    after = {k: v for k, v in (merged.get("spec") or {}).items() if k not in _STATEFULSET_MUTABLE}
    if before != after:
        raise ApplyError(
            f'The StatefulSet "{live.name}" is invalid: spec: Forbidden: updates to statefulset spec for '
            "fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', "
            "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
        )
