"""Custom resources: objects of a kind that a CustomResourceDefinition in the input serves.

Once the whole input is read (``loader.finish_input``), each object of a kind no built-in resource
serves is matched against the CRDs of the input (group, served version, ``names.kind``). Matched,
it is validated as the apiextensions-apiserver validates it: metadata as every object's, then the
version's ``openAPIV3Schema`` (types, ``required``, ``enum``, unknown fields under
``fieldValidation=Strict`` as kubectl sends it; ``x-kubernetes-preserve-unknown-fields`` and
``x-kubernetes-int-or-string`` honoured; bounds, ``minLength``, ``pattern`` and ``minItems`` in
kube-openapi's words; CEL rules, ``format``, ``maxLength``/``maxItems`` and list types are not
checked), its ``default`` values filled in as structural defaulting does, and
stored as a generic object with the CRD's scope. Unmatched, it is kubectl's "no matches for kind".

Deliberate difference: one ``kubectl apply -f`` of a CRD and its custom resources together refuses
the resources the first time (kubectl maps every object before creating any, and the CRD is not
yet served); a second apply, or Helm's ``crds/``, succeeds. hitless accepts them in one go.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pydantic

from hitless.api import errors as fe
from hitless.api import gofmt, kinds, schema
from hitless.api.errors import FieldError, LoadError
from hitless.api.fieldpath import Path
from hitless.api.types.generic import GenericObject
from hitless.api.validation import names
from hitless.api.validation.meta import validate_object_meta
from hitless.api.yamlsource import json_normalize

if TYPE_CHECKING:
    from hitless.api.loader import LoadResult, SourceMap

_JSON_TYPE = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}


@dataclass(frozen=True)
class Pending:
    """An object whose kind is not a built-in one, waiting for the CRDs of the input."""

    value: dict[str, Any]
    api_version: str
    kind: str
    name: str
    source: SourceMap
    file: str


@dataclass(frozen=True)
class CustomKind:
    group: str
    version: str
    kind: str
    namespaced: bool
    schema: Mapping[str, Any] | None
    status_subresource: bool

    @property
    def qualified(self) -> str:
        return f"{self.kind}.{self.group}"


def served_kinds(result: LoadResult) -> dict[tuple[str, str, str], CustomKind]:
    """(group, version, kind) → what the CRDs of the input serve."""
    out: dict[tuple[str, str, str], CustomKind] = {}
    for loaded in result.objects:
        obj = loaded.obj
        if obj.kind != "CustomResourceDefinition" or obj.api_version != "apiextensions.k8s.io/v1":
            continue
        spec = _sub(obj.to_json().get("spec"))
        group, kind = _text(spec.get("group")), _text(_sub(spec.get("names")).get("kind"))
        for version in _dicts(spec.get("versions")):
            if version.get("served") is not True:
                continue
            schema = _sub(version.get("schema")).get("openAPIV3Schema")
            status = "status" in _sub(version.get("subresources"))
            name = _text(version.get("name"))
            out[(group, name, kind)] = CustomKind(
                group,
                name,
                kind,
                spec.get("scope") != "Cluster",
                schema if isinstance(schema, dict) else None,
                status,
            )
    return out


def resolve(result: LoadResult) -> None:
    if not result.pending:
        return
    served = served_kinds(result)
    for p in result.pending:
        group, version = kinds.split_api_version(p.api_version)
        custom = served.get((group, version, p.kind))
        if custom is None:
            namespace = _written_namespace(p.value)
            message = kinds.no_match_message(p.api_version, p.kind, p.name, namespace, p.file)
            result.errors.append(
                LoadError(p.file, p.source.line, message, "object", p.kind, p.name, object_line=p.source.line)
            )
            continue
        _check(p, custom, result)
    result.pending = []


def _written_namespace(value: Mapping[str, Any]) -> str:
    meta = value.get("metadata")
    ns = meta.get("namespace") if isinstance(meta, Mapping) else None
    return ns if isinstance(ns, str) else ""


def _check(p: Pending, custom: CustomKind, result: LoadResult) -> None:
    from hitless.api.loader import LoadedObject

    decoded = json_normalize(p.value)
    meta = decoded.get("metadata")
    if not isinstance(meta, dict):
        meta = decoded["metadata"] = {}
    # Metadata decodes into ObjectMeta as every object's does (a custom resource's schema has none).
    meta_decoding = schema.decode("ObjectMeta", "meta/v1", meta)
    if meta_decoding.errors:
        for problem in meta_decoding.errors:
            detail = problem.detail.replace(
                "Go struct field ObjectMeta.", "Go struct field ObjectMeta.metadata."
            )
            message = f'{p.kind} in version "{custom.version}" cannot be handled as a {p.kind}: {detail}'
            where = f"metadata.{problem.path}"
            result.errors.append(
                LoadError(
                    p.file,
                    p.source.line_of(where),
                    message,
                    "decode",
                    p.kind,
                    p.name,
                    where,
                    None,
                    p.source.line,
                    custom.qualified,
                )
            )
        return
    if custom.namespaced:
        if not meta.get("namespace"):
            meta["namespace"] = "default"
    else:
        meta.pop("namespace", None)
    unknown: list[Path] = []
    if custom.schema is not None:
        apply_schema_defaults(decoded, custom.schema)
    errs = validate_object_meta(meta, custom.namespaced, names.name_is_dns_subdomain, Path.new("metadata"))
    if custom.schema is not None:
        props = _sub(custom.schema.get("properties"))
        for key, value in decoded.items():
            if key in ("apiVersion", "kind", "metadata"):
                continue
            if key in props:
                errs += _validate(value, _sub(props[key]), Path.new(key), unknown)
            elif not _preserves(custom.schema):
                unknown.append(Path.new(key))
        for key in _strings(custom.schema.get("required")):
            if key not in decoded:
                errs.append(fe.required(Path.new(key)))
    if unknown:
        detail = "strict decoding error: " + ", ".join(f'unknown field "{u}"' for u in unknown)
        version = custom.version
        message = f'{p.kind} in version "{version}" cannot be handled as a {p.kind}: {detail}'
        line = p.source.line_of(unknown[0])
        result.errors.append(
            LoadError(
                p.file,
                line,
                message,
                "decode",
                p.kind,
                p.name,
                str(unknown[0]),
                None,
                p.source.line,
                custom.qualified,
            )
        )
        return
    if errs:
        for e in fe.dedupe(errs):
            message = fe.invalid_message(custom.qualified, p.name, [e])
            result.errors.append(
                LoadError(
                    p.file,
                    p.source.line_of(e.path),
                    message,
                    "invalid",
                    p.kind,
                    p.name,
                    str(e.path),
                    e,
                    p.source.line,
                    custom.qualified,
                )
            )
        return
    if custom.status_subresource:
        decoded.pop("status", None)  # the main resource ignores status, as for built-in kinds
    try:
        obj = GenericObject.model_validate(decoded)
    except pydantic.ValidationError as exc:  # a gap between ObjectMeta's model and its schema
        message = f"hitless cannot represent this {p.kind}: {exc.errors()[0]['msg']}"
        result.errors.append(
            LoadError(p.file, p.source.line, message, "invalid", p.kind, p.name, object_line=p.source.line)
        )
        return
    obj.set_namespaced(custom.namespaced)
    result.objects.append(LoadedObject(obj, p.file, p.source.line, p.value, p.source))


def apply_schema_defaults(value: Any, schema: Mapping[str, Any]) -> None:
    """Structural defaulting (apiextensions-apiserver's structuraldefaulting.Default): a ``default``
    fills an absent property of an object that is there, at any depth, list items included."""
    if isinstance(value, dict):
        props = _sub(schema.get("properties"))
        for key, sub in props.items():
            if key not in value and isinstance(sub, dict) and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in props and isinstance(props[key], dict):
                apply_schema_defaults(item, props[key])
            elif isinstance(extra, dict):
                apply_schema_defaults(item, extra)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            apply_schema_defaults(item, schema["items"])


# A CRD's schema is the user's too: anything where a schema, a list or a number belongs is taken as
# no constraint, never as a reason to fail.
def _sub(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _number(value: Any) -> float | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _preserves(schema: Mapping[str, Any]) -> bool:
    return bool(schema.get("x-kubernetes-preserve-unknown-fields"))


def _type_of(value: Any) -> str:
    return _JSON_TYPE.get(type(value), "object")


def _validate(value: Any, schema: Mapping[str, Any], path: Path, unknown: list[Path]) -> list[FieldError]:
    """The structural schema's checks (kube-openapi's validate, as apiextensions uses it)."""
    if value is None:
        if schema.get("nullable"):
            return []
        # A null is pruned for a non-nullable field: as if it were not written.
        return []
    want = _text(schema.get("type"))
    actual = _type_of(value)
    if schema.get("x-kubernetes-int-or-string"):
        if actual not in ("integer", "string"):
            return [_type_error(path, value, "integer-or-string", actual)]
    elif want and want != actual and not (want == "number" and actual == "integer"):
        return [_type_error(path, value, want, actual)]
    errs: list[FieldError] = _bounds(value, schema, path)
    enum = schema.get("enum")
    if isinstance(enum, list) and value not in enum:
        errs.append(fe.not_supported(path, _go(value), [str(e) for e in enum]))
    if isinstance(value, dict):
        props = schema.get("properties")
        props = props if isinstance(props, dict) else None
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if props is not None and key in props:
                errs += _validate(item, _sub(props[key]), path.child(key), unknown)
            elif isinstance(extra, dict):
                errs += _validate(item, extra, path.key(key), unknown)
            elif props is not None and not _preserves(schema) and extra is not True:
                unknown.append(path.child(key))
        for key in _strings(schema.get("required")):
            if key not in value:
                errs.append(fe.required(path.child(key)))
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                errs += _validate(item, items, path.index(i), unknown)
    return errs


def _bounds(value: Any, schema: Mapping[str, Any], path: Path) -> list[FieldError]:
    """kube-openapi's numeric, string and array validators, in their words (errors/schema.go)."""
    problems: list[str] = []
    if isinstance(value, int | float) and not isinstance(value, bool):
        low, high = _number(schema.get("minimum")), _number(schema.get("maximum"))
        if low is not None:
            if schema.get("exclusiveMinimum") and value <= low:
                problems.append(f"should be greater than {_num(low)}")
            elif value < low:
                problems.append(f"should be greater than or equal to {_num(low)}")
        if high is not None:
            if schema.get("exclusiveMaximum") and value >= high:
                problems.append(f"should be less than {_num(high)}")
            elif value > high:
                problems.append(f"should be less than or equal to {_num(high)}")
        step = _number(schema.get("multipleOf"))
        quotient = value / step if step else 0.0
        if step and math.isfinite(quotient) and quotient != math.floor(quotient):
            problems.append(f"should be a multiple of {_num(step)}")
    elif isinstance(value, str):
        shortest, pattern = _number(schema.get("minLength")), schema.get("pattern")
        if shortest is not None and len(value) < shortest:
            problems.append(f"should be at least {shortest} chars long")
        if isinstance(pattern, str) and _safe_pattern(pattern):
            try:
                matched = re.search(pattern, value) is not None
            except re.error:
                matched = True  # a pattern Python cannot read is not judged (Go's RE2 differs)
            if not matched:
                problems.append(f"should match '{pattern}'")
    elif isinstance(value, list):
        fewest = _number(schema.get("minItems"))
        if fewest is not None and len(value) < fewest:
            problems.append(f"should have at least {fewest} items")
    return [fe.invalid(path, _go(value), f"{path} in body {p}") for p in problems]


# A quantified group ending in a quantifier ("(a+)+"): Go's RE2 matches it in linear time, Python's
# backtracking engine in exponential time, so a hostile CRD could hang the load; not judged.
_NESTED_QUANTIFIER = re.compile(r"[+*}]\)*\)[+*{]")


def _safe_pattern(pattern: str) -> bool:
    return _NESTED_QUANTIFIER.search(pattern) is None


def _num(n: float) -> str:
    return str(int(n)) if float(n).is_integer() else str(n)


def _go(value: Any) -> gofmt.GoValue:
    if isinstance(value, str | int | float | bool):
        return value
    return gofmt.GoLiteral(_go_text(value))


def _go_text(value: Any) -> str:
    """``%#v`` of a decoded JSON value (``map[string]interface {}{...}``, ``[]interface {}{...}``)."""
    if isinstance(value, dict):
        inner = ", ".join(f"{gofmt.quote(str(k))}:{_go_text(v)}" for k, v in sorted(value.items()))
        return f"map[string]interface {{}}{{{inner}}}"
    if isinstance(value, list):
        return "[]interface {}{" + ", ".join(_go_text(v) for v in value) + "}"
    if isinstance(value, str):
        return gofmt.quote(value)
    return gofmt.value(value)


def _type_error(path: Path, value: Any, want: str, actual: str) -> FieldError:
    return fe.invalid(path, _go(value), f'{path} in body must be of type {want}: "{actual}"')
