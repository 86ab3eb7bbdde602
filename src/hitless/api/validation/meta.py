"""Metadata, labels and label selectors, and reading a decoded object as Go would see it.

Validators work on the defaulted JSON dict, after strict decoding succeeded (so every value has
the right JSON type). The readers below give Go's zero values for absent fields: ``""``, ``0``,
an empty list, ``None`` for a nil pointer or map.

Sources: ``k8s.io/apimachinery/pkg/api/validation/objectmeta.go`` and
``k8s.io/apimachinery/pkg/apis/meta/v1/validation/validation.go``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hitless.api import errors as fe
from hitless.api.errors import FieldError
from hitless.api.fieldpath import Path
from hitless.api.validation import names

Obj = Mapping[str, Any]
NameFn = Callable[[str, bool], list[str]]

IS_NEGATIVE_ERROR_MSG = "must be greater than or equal to 0"
TOTAL_ANNOTATION_SIZE_LIMIT_B = 256 * (1 << 10)


def s(obj: Obj | None, key: str) -> str:
    value = obj.get(key) if obj else None
    return value if isinstance(value, str) else ""


def n(obj: Obj | None, key: str) -> int:
    value = obj.get(key) if obj else None
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def opt_int(obj: Obj | None, key: str) -> int | None:
    """A pointer-to-int field: None when unset."""
    value = obj.get(key) if obj else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def o(obj: Obj | None, key: str) -> Obj | None:
    value = obj.get(key) if obj else None
    # dict first: the decoded JSON is all dicts, and the Mapping ABC check is slow.
    return value if isinstance(value, dict | Mapping) else None


def items(obj: Obj | None, key: str) -> list[Any]:
    value = obj.get(key) if obj else None
    return value if isinstance(value, list) else []


def objs(obj: Obj | None, key: str) -> list[Obj]:
    """A list of structs; a null element is Go's zero struct."""
    return [e if isinstance(e, dict | Mapping) else {} for e in items(obj, key)]


def string_map(obj: Obj | None, key: str) -> dict[str, str] | None:
    value = obj.get(key) if obj else None
    if not isinstance(value, Mapping):
        return None
    return {k: v if isinstance(v, str) else "" for k, v in value.items()}


def validate_nonnegative(value: int, path: Path) -> list[FieldError]:
    return [fe.invalid(path, value, IS_NEGATIVE_ERROR_MSG)] if value < 0 else []


# --- ObjectMeta ------------------------------------------------------------------------------


def validate_object_meta(
    meta: Obj | None, requires_namespace: bool, name_fn: NameFn, path: Path
) -> list[FieldError]:
    """``ValidateObjectMetaAccessor`` for a create.

    The API server generates a name from ``generateName`` before validating; hitless leaves the
    generation to the store, so a missing name is only an error without a ``generateName``.
    """
    errs: list[FieldError] = []
    generate_name = s(meta, "generateName")
    if generate_name:
        errs += [
            fe.invalid(path.child("generateName"), generate_name, m) for m in name_fn(generate_name, True)
        ]
    name = s(meta, "name")
    if not name:
        if not generate_name:
            errs.append(fe.required(path.child("name"), "name or generateName is required"))
    else:
        errs += [fe.invalid(path.child("name"), name, m) for m in name_fn(name, False)]
    namespace = s(meta, "namespace")
    if requires_namespace:
        if not namespace:
            errs.append(fe.required(path.child("namespace")))
        else:
            errs += [
                fe.invalid(path.child("namespace"), namespace, m)
                for m in names.name_is_dns_label(namespace, False)
            ]
    elif namespace:
        errs.append(fe.forbidden(path.child("namespace"), "not allowed on this type"))
    errs += validate_nonnegative(n(meta, "generation"), path.child("generation"))
    errs += validate_labels(string_map(meta, "labels"), path.child("labels"))
    errs += validate_annotations(string_map(meta, "annotations"), path.child("annotations"))
    for finalizer in items(meta, "finalizers"):
        if isinstance(finalizer, str):
            errs += [
                fe.invalid(path.child("finalizers"), finalizer, m) for m in names.is_qualified_name(finalizer)
            ]
    return errs


def validate_label_name(name: str, path: Path) -> list[FieldError]:
    return [fe.invalid(path, name, m) for m in names.is_qualified_name(name)]


def validate_labels(labels: Mapping[str, str] | None, path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    for key, value in (labels or {}).items():
        errs += validate_label_name(key, path)
        errs += [fe.invalid(path, value, m) for m in names.is_valid_label_value(value)]
    return errs


def validate_annotations(annotations: Mapping[str, str] | None, path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    total = 0
    for key, value in (annotations or {}).items():
        # A qualified name, except that case does not matter.
        errs += [fe.invalid(path, key, m) for m in names.is_qualified_name(key.lower())]
        total += len(key.encode()) + len(value.encode())
    if total > TOTAL_ANNOTATION_SIZE_LIMIT_B:
        errs.append(fe.too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT_B))
    return errs


# --- label selectors -------------------------------------------------------------------------

_SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def validate_label_selector(
    selector: Obj | None, path: Path, allow_invalid_values: bool = False
) -> list[FieldError]:
    if selector is None:
        return []
    errs = validate_labels(string_map(selector, "matchLabels"), path.child("matchLabels"))
    for i, req in enumerate(objs(selector, "matchExpressions")):
        errs += _validate_requirement(req, path.child("matchExpressions").index(i), allow_invalid_values)
    return errs


def _validate_requirement(req: Obj, path: Path, allow_invalid_values: bool) -> list[FieldError]:
    errs: list[FieldError] = []
    operator, values = s(req, "operator"), [v for v in items(req, "values") if isinstance(v, str)]
    if operator in ("In", "NotIn"):
        if not values:
            errs.append(
                fe.required(path.child("values"), "must be specified when `operator` is 'In' or 'NotIn'")
            )
    elif operator in ("Exists", "DoesNotExist"):
        if values:
            errs.append(
                fe.forbidden(
                    path.child("values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
                )
            )
    else:
        errs.append(fe.invalid(path.child("operator"), operator, "not a valid selector operator"))
    errs += validate_label_name(s(req, "key"), path.child("key"))
    if not allow_invalid_values:
        for i, value in enumerate(values):
            errs += [
                fe.invalid(path.child("values").index(i), value, m) for m in names.is_valid_label_value(value)
            ]
    return errs


class Selector:
    """``metav1.LabelSelectorAsSelector``: nil selects nothing, an empty one everything."""

    def __init__(self, selector: Obj | None) -> None:
        self.nothing = selector is None
        self.match_labels = string_map(selector, "matchLabels") or {}
        self.expressions = objs(selector, "matchExpressions")

    @property
    def empty(self) -> bool:
        return not self.nothing and not self.match_labels and not self.expressions

    def convertible(self) -> bool:
        """False where LabelSelectorAsSelector returns an error (bad operator, key or value)."""
        for key, value in self.match_labels.items():
            if names.is_qualified_name(key) or names.is_valid_label_value(value):
                return False
        for req in self.expressions:
            operator, values = s(req, "operator"), items(req, "values")
            if operator not in _SELECTOR_OPERATORS or names.is_qualified_name(s(req, "key")):
                return False
            if (operator in ("In", "NotIn")) != bool(values):
                return False
            if any(not isinstance(v, str) or names.is_valid_label_value(v) for v in values):
                return False
        return True

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.nothing:
            return False
        labels = labels or {}
        if any(labels.get(k) != v for k, v in self.match_labels.items()):
            return False
        for req in self.expressions:
            key, operator, values = s(req, "key"), s(req, "operator"), items(req, "values")
            present = key in labels
            if operator == "In" and not (present and labels[key] in values):
                return False
            if operator == "NotIn" and present and labels[key] in values:
                return False
            if operator == "Exists" and not present:
                return False
            if operator == "DoesNotExist" and present:
                return False
        return True
