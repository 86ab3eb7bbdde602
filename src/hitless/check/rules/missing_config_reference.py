"""``missing-config-reference``: a pod reads a ConfigMap or Secret (a volume, ``env``, ``envFrom``)
that the input does not hold, or a key it does not have."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hitless.api.types.config import ConfigMap, Secret
from hitless.check.finding import Finding, Severity
from hitless.check.model import Context, Workload
from hitless.check.rule import Rule


@dataclass(frozen=True)
class Ref:
    kind: str  # ConfigMap or Secret
    name: str
    path: str  # the field path of the name
    volume: str | None  # the volume's name, for a volume source
    keys: tuple[str, ...]  # the keys it needs (env key refs, volume items)
    optional: bool


def _may_refer(w: Workload) -> bool:
    """Whether the pod spec has volumes or env at all: most have none, and serializing every
    spec would cost ``hitless check`` on 1,000 objects ~15 ms."""
    fields = w.spec.__dict__
    extra = w.spec.model_extra or {}
    if fields.get("volumes") or extra.get("volumes"):
        return True
    for c in [*(w.spec.init_containers or []), *w.spec.containers]:
        if c.env or c.__dict__.get("env_from") or (c.model_extra or {}).get("envFrom"):
            return True
    return False


def references(w: Workload) -> Iterator[Ref]:
    """Every ConfigMap and Secret the pod reads; an invalid object read leniently may hold any
    JSON where a struct belongs, which is skipped."""
    if not _may_refer(w):
        return
    spec = w.spec.to_json()
    base = w.pod_path
    for i, vol in enumerate(_dicts(spec.get("volumes"))):
        path = f"{base}.volumes[{i}]"
        for kind, field, name_key in (("ConfigMap", "configMap", "name"), ("Secret", "secret", "secretName")):
            src = vol.get(field)
            if isinstance(src, dict):
                yield _ref(kind, src, name_key, f"{path}.{field}.{name_key}", vol.get("name"))
        projected = vol.get("projected")
        sources = projected.get("sources") if isinstance(projected, dict) else None
        for j, source in enumerate(_dicts(sources)):
            for kind, field in (("ConfigMap", "configMap"), ("Secret", "secret")):
                src = source.get(field)
                if isinstance(src, dict):
                    yield _ref(
                        kind, src, "name", f"{path}.projected.sources[{j}].{field}.name", vol.get("name")
                    )
    for key in ("initContainers", "containers"):
        for i, c in enumerate(_dicts(spec.get(key))):
            cpath = f"{base}.{key}[{i}]"
            for j, env in enumerate(_dicts(c.get("env"))):
                value_from = env.get("valueFrom")
                for kind, field in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                    sel = value_from.get(field) if isinstance(value_from, dict) else None
                    if isinstance(sel, dict):
                        path = f"{cpath}.env[{j}].valueFrom.{field}.name"
                        keys = (_str(sel.get("key")),)
                        yield Ref(kind, _str(sel.get("name")), path, None, keys, sel.get("optional") is True)
            for j, env_from in enumerate(_dicts(c.get("envFrom"))):
                for kind, field in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                    sel = env_from.get(field)
                    if isinstance(sel, dict):
                        path = f"{cpath}.envFrom[{j}].{field}.name"
                        yield Ref(kind, _str(sel.get("name")), path, None, (), sel.get("optional") is True)


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _ref(kind: str, src: dict[str, Any], name_key: str, path: str, volume: Any) -> Ref:
    keys = tuple(_str(item.get("key")) for item in _dicts(src.get("items")))
    name = volume if isinstance(volume, str) else ""
    return Ref(kind, _str(src.get(name_key)), path, name, keys, src.get("optional") is True)


def _keys(obj: Any) -> set[str] | None:
    if isinstance(obj, ConfigMap):
        return set(obj.data or {}) | set(obj.binary_data or {})
    if isinstance(obj, Secret):
        return set(obj.data or {})
    return None


def _check(ctx: Context) -> Iterator[Finding]:
    held = {(o.kind, o.namespace, o.name): k for o, k in ctx.loaded if o.kind in ("ConfigMap", "Secret")}
    for w in ctx.workloads:
        ns = w.obj.namespace
        for ref in references(w):
            if not ref.name or ref.optional:
                continue
            word = ref.kind.lower()
            obj = held.get((ref.kind, ns, ref.name))
            if obj is None:
                if ref.volume is not None:
                    what = (
                        f'MountVolume.SetUp failed for volume "{ref.volume}" : {word} "{ref.name}" not found'
                    )
                    effect = "the pod waits in ContainerCreating"
                else:
                    what = f'Error: {word} "{ref.name}" not found'
                    effect = "the container does not start (CreateContainerConfigError)"
                yield ctx.finding(
                    RULE,
                    w.obj,
                    ref.path,
                    f'{ref.kind} "{ref.name}" is not in the input: unless it already exists in the namespace '
                    f'"{ns}", {effect}: {what}',
                    severity=Severity.WARNING,
                )
                continue
            present = _keys(obj) or set()
            for key in ref.keys:
                if key and key not in present:
                    if ref.volume is not None:
                        what = f"{word} references non-existent config key: {key}"
                        effect = (
                            f'volume "{ref.volume}" cannot be mounted and the pod waits in ContainerCreating'
                        )
                    else:
                        what = f"couldn't find key {key} in {ref.kind} {ns}/{ref.name}"
                        effect = "the container does not start (CreateContainerConfigError)"
                    yield ctx.finding(
                        RULE,
                        w.obj,
                        ref.path,
                        f'{ref.kind} "{ref.name}" has no key "{key}": {effect}: {what}',
                        severity=Severity.ERROR,
                    )


RULE = Rule(
    id="missing-config-reference",
    severity=Severity.ERROR,
    summary="A pod reads a ConfigMap or Secret, or a key of one, that the input does not hold",
    behaviour=(
        "The kubelet resolves a pod's ConfigMap and Secret references when it starts a container: a "
        "missing volume source holds the pod in ContainerCreating with FailedMount events, a missing "
        "env source or key stops the container with CreateContainerConfigError, until the object "
        "appears. A reference marked optional: true is skipped instead. A missing object is a "
        "warning (it may exist in the cluster already); a missing key of an object in the input an error."
    ),
    fix="Add the ConfigMap or Secret (or the key) to the manifests, or mark the reference optional: true.",
    check=_check,
)
