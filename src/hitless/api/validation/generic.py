"""Metadata validation for every kind hitless stores without a validator of its own.

``ValidateObjectMeta`` with the kind's name rule and scope, as each kind's ``Validate<Kind>``
starts; the rest of a stored kind's spec is checked by strict decoding only (documented in
docs/kinds.md). Name rules: pkg/apis/core/validation (Namespace: a DNS label), pkg/apis/rbac/
validation (ValidateRBACName = path.IsValidPathSegmentName); every other kind a DNS subdomain.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hitless.api import errors as fe
from hitless.api.errors import FieldError
from hitless.api.fieldpath import Path
from hitless.api.kinds import is_namespaced
from hitless.api.validation import names
from hitless.api.validation.meta import NameFn, o, s, validate_object_meta

# k8s.io/apimachinery/pkg/api/validation/path/name.go
_NAME_MAY_NOT_BE = (".", "..")
_NAME_MAY_NOT_CONTAIN = ("/", "%")


def is_valid_path_segment_name(name: str, prefix: bool) -> list[str]:
    if not prefix:
        for illegal in _NAME_MAY_NOT_BE:
            if name == illegal:
                return [f"may not be '{illegal}'"]
    return [f"may not contain '{c}'" for c in _NAME_MAY_NOT_CONTAIN if c in name]


_NAME_RULES: dict[str, NameFn] = {
    "Namespace": names.name_is_dns_label,
    "Role": is_valid_path_segment_name,
    "ClusterRole": is_valid_path_segment_name,
    "RoleBinding": is_valid_path_segment_name,
    "ClusterRoleBinding": is_valid_path_segment_name,
}


def validate_generic(obj: Mapping[str, Any]) -> list[FieldError]:
    kind = str(obj.get("kind"))
    name_fn = _NAME_RULES.get(kind, names.name_is_dns_subdomain)
    return validate_object_meta(o(obj, "metadata"), is_namespaced(kind), name_fn, Path.new("metadata"))


def validate_custom_resource_definition(crd: Mapping[str, Any]) -> list[FieldError]:
    """The parts of ValidateCustomResourceDefinition (apiextensions-apiserver's
    pkg/apis/apiextensions/validation) that a mistyped CRD most often breaks: its name, group and
    scope. Its versions and schemas are checked by strict decoding only."""
    errs = validate_generic(crd)
    spec = o(crd, "spec") or {}
    group, names_ = s(spec, "group"), o(spec, "names") or {}
    name = s(o(crd, "metadata"), "name")
    if name and name != f"{s(names_, 'plural')}.{group}":
        errs.append(
            fe.invalid(Path.new("metadata", "name"), name, 'must be spec.names.plural+"."+spec.group')
        )
    if group and "." not in group:
        errs.append(fe.invalid(Path.new("spec", "group"), group, "should be a domain with at least one dot"))
    scope = s(spec, "scope")
    if scope not in ("Cluster", "Namespaced"):
        errs.append(fe.not_supported(Path.new("spec", "scope"), scope, ("Cluster", "Namespaced")))
    return errs
