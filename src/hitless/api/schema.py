"""Strict decoding, as the API server does it with ``fieldValidation=Strict``.

The upstream OpenAPI schemas come from the ``kubernetes-validate`` package (its ``-local-strict``
variant, where every object has ``additionalProperties: false``). A Draft 2020-12 validator per
kind finds every unknown field and every value of the wrong JSON type; each is then told in the
words of the API server's decoder (``sigs.k8s.io/json``, a fork of ``encoding/json``):

* ``Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "spec.x"``
* ``... json: cannot unmarshal number into Go struct field
  ExecAction.spec.containers.lifecycle.preStop.exec.command of type string``

The Go struct and type names are derived from the schema definitions (``io.k8s.api.core.v1.ExecAction``
is Go's ``v1.ExecAction``). The API server stops at the first wrong type; hitless reports them all,
each in the words the server would use had it been the only one.

jsonschema is the reference but it is slow, so an object is first checked by ``schemacheck``'s
compiled closures; only one that fails there goes through ``iter_errors`` for its errors (and
jsonschema is imported only then).

Missing ``required`` fields are not decoding errors: the decoder accepts them and validation
reports them in its own words. They are returned separately, for the loader to use where
hitless's validation has no rule of its own.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path as FsPath
from typing import TYPE_CHECKING, Any

from hitless import KUBERNETES_VERSION
from hitless.api.fieldpath import Path, Segment
from hitless.api.schemacheck import Check, Compiler

if TYPE_CHECKING:
    from jsonschema import ValidationError

_DEFS = "io.k8s.apimachinery.pkg."
_QUANTITY = _DEFS + "api.resource.Quantity"
_INTSTR = _DEFS + "util.intstr.IntOrString"
_TIME = _DEFS + "apis.meta.v1.Time"
_INT_RANGE = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}

# resource.ParseQuantity's error texts (k8s.io/apimachinery/pkg/api/resource/quantity.go).
_QUANTITY_RE = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
ERR_QUANTITY_FORMAT = f"quantities must match the regular expression '{_QUANTITY_RE}'"
_QUANTITY_SUFFIXES = {"", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"}


# Fields the schema marks required whose absence upstream validation reports as a bare
# "Required value", and that hitless's own validation does not look at (volume sources mostly;
# read in pkg/apis/core/validation/validation.go). Other schema-required fields are either checked
# by hitless's validation in upstream's words or are not required by upstream at all
# (HTTPHeader.value, SleepAction.seconds, ...), so they must not be reported from the schema.
_REQUIRED_BY_VALIDATION = {
    "AWSElasticBlockStoreVolumeSource": {"volumeID"},
    "DownwardAPIVolumeFile": {"path"},
    "GCEPersistentDiskVolumeSource": {"pdName"},
    "GitRepoVolumeSource": {"repository"},
    "GlusterfsVolumeSource": {"endpoints", "path"},
    "HostPathVolumeSource": {"path"},
    "ISCSIVolumeSource": {"targetPortal", "iqn"},
    "KeyToPath": {"key", "path"},
    "NFSVolumeSource": {"server", "path"},
    "PersistentVolumeClaimVolumeSource": {"claimName"},
    "VolumeDevice": {"name", "devicePath"},
}


@dataclass(frozen=True)
class DecodeError:
    path: Path
    detail: str  # the decoder's error, without the "cannot be handled as" prefix


@dataclass(frozen=True)
class DecodeResult:
    errors: list[DecodeError]
    missing: list[Path]  # required fields upstream validation would report and hitless does not check


def handled_as(kind: str, api_version: str, detail: str) -> str:
    """The API server's wrapping of a decoding error (``transformDecodeError``)."""
    version = api_version.rsplit("/", 1)[-1]
    return f'{kind} in version "{version}" cannot be handled as a {kind}: {detail}'


def quantity_error(text: str) -> str | None:
    """Why ``resource.ParseQuantity`` rejects ``text``, or None if it parses."""
    text = text.strip()
    match = re.fullmatch(r"([+-]?[0-9.]+)(.*)", text)
    if not text or match is None or not re.fullmatch(_QUANTITY_RE, text):
        return ERR_QUANTITY_FORMAT
    number, suffix = match.groups()
    if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)", number):
        return "unable to parse numeric part of quantity"
    if suffix not in _QUANTITY_SUFFIXES and not re.fullmatch(r"[eE][-+]?\d+", suffix):
        return "unable to parse quantity's suffix"
    return None


# --- schemas and validators --------------------------------------------------------------------


def _schema_dir() -> FsPath:
    # Found, not imported: the package's __init__ imports jsonschema, which the fast path avoids.
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("kubernetes_validate is not installed", name="kubernetes_validate")
    package = FsPath(spec.submodule_search_locations[0])
    return package / "kubernetes-json-schema" / f"v{KUBERNETES_VERSION}.0-local-strict"


@cache
def _definitions() -> dict[str, Any]:
    defs: dict[str, Any] = json.loads((_schema_dir() / "_definitions.json").read_text())
    # Markers for the values the Go decoder parses itself; checked by _format below.
    defs["$defs"][_QUANTITY]["format"] = "k8s-quantity"
    defs["$defs"][_INTSTR]["format"] = "k8s-intstr"
    return defs


def _format_problem(fmt: str, instance: Any) -> str | None:
    if isinstance(instance, bool):
        return None
    if fmt in _INT_RANGE and isinstance(instance, int | float):
        # An integral float (go-yaml reads 1e26 as one) passes as an integer; its range is checked too.
        low, high = _INT_RANGE[fmt]
        if not low <= instance <= high:
            return f"{instance} overflows {fmt}"
    elif fmt == "k8s-intstr" and isinstance(instance, int) and not -(2**31) <= instance < 2**31:
        return f"{instance} overflows int32"
    elif fmt == "k8s-quantity" and isinstance(instance, str | int | float):
        return quantity_error(str(instance))
    return None


def _format(validator: Any, fmt: str, instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    from jsonschema import ValidationError

    problem = _format_problem(fmt, instance)
    if problem:
        yield ValidationError(problem)


def _format_ok(fmt: str, instance: Any) -> bool:
    return _format_problem(fmt, instance) is None


def schema_name(kind: str, api_version: str) -> str:
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    return f"{kind.lower()}-{group_version}.json"


@cache
def _root(kind: str, api_version: str) -> dict[str, Any]:
    root: dict[str, Any] = json.loads((_schema_dir() / schema_name(kind, api_version)).read_text())
    return root


@cache
def _compiler() -> Compiler:
    return Compiler(_definitions()["$defs"], _format_ok)


@cache
def _fast_check(kind: str, api_version: str) -> Check:
    return _compiler().compile(_root(kind, api_version))


@cache
def _validator(kind: str, api_version: str) -> Any:
    from jsonschema.validators import Draft202012Validator, extend
    from referencing import Registry, Resource

    root, defs = _root(kind, api_version), _definitions()
    registry: Registry[Any] = Registry().with_resources(
        [(defs["$id"], Resource.from_contents(defs)), (root["$id"], Resource.from_contents(root))]
    )
    return extend(Draft202012Validator, validators={"format": _format})(root, registry=registry)


def warm_up(kinds: Sequence[tuple[str, str]]) -> None:
    """Read the schemas ahead of time (the definitions are ~1.5 MB of JSON)."""
    for kind, api_version in kinds:
        _fast_check(kind, api_version)


def go_nulls(kind: str, api_version: str, obj: dict[str, Any]) -> dict[str, Any]:
    """The object as Go decodes its nulls: a null field is left unset, a null list item or map
    value becomes the zero value of its type (``[a, null]`` into a ``[]string`` is ``["a", ""]``)."""
    result = _zero_nulls(obj, _root(kind, api_version))
    assert isinstance(result, dict)
    return result


def _zero_nulls(value: Any, schema: dict[str, Any]) -> Any:
    defs = _definitions()["$defs"]
    while "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    if isinstance(value, dict):
        props = schema.get("properties")
        if props is not None:
            return {k: _zero_nulls(v, props.get(k, {})) for k, v in value.items() if v is not None}
        extra = schema.get("additionalProperties")
        inner = extra if isinstance(extra, dict) else {}
        return {k: _zero(inner) if v is None else _zero_nulls(v, inner) for k, v in value.items()}
    if isinstance(value, list):
        inner = schema.get("items") or {}
        return [_zero(inner) if v is None else _zero_nulls(v, inner) for v in value]
    return value


def _zero(schema: dict[str, Any]) -> Any:
    go_type = _go_type(schema)
    if go_type == "string":
        return ""
    if go_type == "bool":
        return False
    if go_type in ("int32", "int64", "float64"):
        return 0
    if go_type == "intstr.IntOrString":
        return 0
    if go_type == "resource.Quantity":
        return "0"
    if go_type.startswith(("[]", "map[")):
        return None
    return {}


# --- errors in Go's words ----------------------------------------------------------------------


def decode(kind: str, api_version: str, obj: dict[str, Any]) -> DecodeResult:
    if _fast_check(kind, api_version)(obj):
        return DecodeResult([], [])
    return decode_slow(kind, api_version, obj)


def decode_slow(kind: str, api_version: str, obj: dict[str, Any]) -> DecodeResult:
    """``decode`` by jsonschema alone: the reference the fast check is tested against."""
    validator, root = _validator(kind, api_version), _root(kind, api_version)
    errors: dict[Path, DecodeError] = {}
    missing: list[Path] = []
    for err in validator.iter_errors(obj):
        segments: list[Segment] = list(err.absolute_path)
        where = _walk(root, kind, segments)
        if err.validator == "additionalProperties":
            known = err.schema.get("properties") or {}
            for key in err.instance:
                if key not in known:
                    path = where.path.child(key)
                    errors.setdefault(
                        path, DecodeError(path, f'strict decoding error: unknown field "{path}"')
                    )
        elif err.validator == "required":
            wanted = _REQUIRED_BY_VALIDATION.get(where.type_name, set())
            missing.extend(
                where.path.child(k) for k in err.validator_value if k not in err.instance and k in wanted
            )
        elif err.instance is not None and err.validator in ("type", "oneOf", "format"):
            # Go accepts null for any field, hence the None check.
            errors.setdefault(where.path, DecodeError(where.path, _type_error(where, err)))
    return DecodeResult(list(errors.values()), missing)


@dataclass(frozen=True)
class _Where:
    path: Path
    struct: str  # the Go struct whose field holds the value
    stack: tuple[str, ...]  # encoding/json's FieldStack: JSON names, no indexes or map keys
    leaf: dict[str, Any]  # the schema of the value, $ref not followed
    type_name: str  # the Go type name of the value when it is a struct, else ""


def _walk(root: dict[str, Any], kind: str, segments: Sequence[Segment]) -> _Where:
    defs = _definitions()["$defs"]
    schema, current, struct = root, kind, kind
    stack: list[str] = []
    path = Path()
    for seg in segments:
        while "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            schema, current = defs[name], name.rsplit(".", 1)[-1]
        if isinstance(seg, int):
            schema, path = schema.get("items") or {}, path.index(seg)
            continue
        props = schema.get("properties") or {}
        if seg in props:
            struct = current
            stack.append(seg)
            schema, path = props[seg], path.child(seg)
        else:
            extra = schema.get("additionalProperties")
            schema, path = (extra if isinstance(extra, dict) else {}), path.key(seg)
    type_name = (
        schema.get("$ref", "").rsplit(".", 1)[-1] if "$ref" in schema else (current if not segments else "")
    )
    return _Where(path, struct, tuple(stack), schema, type_name)


def _type_error(where: _Where, err: ValidationError) -> str:
    ref = where.leaf.get("$ref", "").rsplit("/", 1)[-1]
    value = err.instance
    if ref == _QUANTITY:
        # Quantity.UnmarshalJSON parses whatever literal it gets; its errors carry no context.
        return err.message if err.validator == "format" else ERR_QUANTITY_FORMAT
    if ref == _INTSTR:
        # IntOrString.UnmarshalJSON calls the standard library's json.Unmarshal into an int32. That
        # error type is not the fork's, so the decoder cannot add the struct and field to it.
        return f"json: cannot unmarshal {_json_kind(value, 'int32')} into Go value of type int32"
    if ref == _TIME:
        return f"json: cannot unmarshal {_json_kind(value, 'string')} into Go value of type string"
    go_type = _go_type(where.leaf)
    field = ".".join(where.stack)
    kind = _json_kind(value, go_type)
    return f"json: cannot unmarshal {kind} into Go struct field {where.struct}.{field} of type {go_type}"


def _json_kind(value: Any, go_type: str) -> str:
    """``UnmarshalTypeError.Value``: the JSON kind, with the literal for numbers an int rejects."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        if go_type in ("int", "int32", "int64"):
            return f"number {_json_number(value)}"
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _json_number(value: int | float) -> str:
    """The number as encoding/json writes it after sigs.k8s.io/yaml converted the YAML."""
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):  # never valid JSON: the YAML-to-JSON conversion refuses it first
        return str(value)
    exact = Decimal(repr(value)).normalize()
    if value == 0 or 1e-6 <= abs(value) < 1e21:
        return format(exact, "f")
    sign, digits, exponent = exact.as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    exp = len(text) - 1 + exponent
    mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
    exp_text = f"{exp:+03d}".replace("-0", "-")  # Go cleans e-07 up to e-7
    return f"{'-' if sign else ''}{mantissa}e{exp_text}"


def _go_type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        parts = schema["$ref"].rsplit("/", 1)[-1].split(".")
        return f"{parts[-2]}.{parts[-1]}"
    types = schema.get("type", [])
    kind = next((t for t in ([types] if isinstance(types, str) else types) if t != "null"), "")
    if kind == "string":
        return "string"
    if kind == "boolean":
        return "bool"
    if kind == "integer":
        return str(schema.get("format", "int64"))
    if kind == "number":
        return "float64"
    if kind == "array":
        return "[]" + _go_type(schema.get("items") or {})
    extra = schema.get("additionalProperties")
    if kind == "object" and isinstance(extra, dict):
        return "map[string]" + _go_type(extra)
    return "map[string]interface {}"
