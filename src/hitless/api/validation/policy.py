"""ValidatePodDisruptionBudget (pkg/apis/policy/validation/validation.go), then the metadata checks
every create gets (rest.BeforeCreate: ValidateObjectMetaAccessor with path-segment names, which is
all a PodDisruptionBudget's name must satisfy)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from hitless.api import errors as fe
from hitless.api import gofmt
from hitless.api.errors import FieldError
from hitless.api.fieldpath import Path
from hitless.api.validation import names
from hitless.api.validation.generic import is_valid_path_segment_name
from hitless.api.validation.meta import o, validate_label_selector, validate_nonnegative, validate_object_meta

UNHEALTHY_POD_EVICTION_POLICIES = ("AlwaysAllow", "IfHealthyBudget")  # sets.List: sorted


def validate_pod_disruption_budget(pdb: Mapping[str, Any]) -> list[FieldError]:
    spec = o(pdb, "spec") or {}
    path = Path.new("spec")
    errs: list[FieldError] = []
    min_available, max_unavailable = spec.get("minAvailable"), spec.get("maxUnavailable")
    if min_available is not None and max_unavailable is not None:
        # Go prints the spec struct with its pointers' addresses; hitless prints the fields written.
        written = gofmt.GoLiteral(
            f"policy.PodDisruptionBudgetSpec{{MinAvailable:{gofmt.intstr(min_available)}, "
            f"MaxUnavailable:{gofmt.intstr(max_unavailable)}}}"
        )
        errs.append(fe.invalid(path, written, "minAvailable and maxUnavailable cannot be both set"))
    for key, value in (("minAvailable", min_available), ("maxUnavailable", max_unavailable)):
        if isinstance(value, int | str) and not isinstance(value, bool):
            errs += _positive_int_or_percent(value, path.child(key))
            errs += _not_more_than_100_percent(value, path.child(key))
    errs += validate_label_selector(o(spec, "selector"), path.child("selector"))
    policy = spec.get("unhealthyPodEvictionPolicy")
    if isinstance(policy, str) and policy not in UNHEALTHY_POD_EVICTION_POLICIES:
        errs.append(
            fe.not_supported(
                path.child("unhealthyPodEvictionPolicy"), policy, UNHEALTHY_POD_EVICTION_POLICIES
            )
        )
    errs += validate_object_meta(o(pdb, "metadata"), True, is_valid_path_segment_name, Path.new("metadata"))
    return errs


def _positive_int_or_percent(value: int | str, path: Path) -> list[FieldError]:
    """apps validation's ValidatePositiveIntOrPercent."""
    if isinstance(value, str):
        return [fe.invalid(path, gofmt.intstr(value), m) for m in names.is_valid_percent(value)]
    return validate_nonnegative(value, path)


def _not_more_than_100_percent(value: int | str, path: Path) -> list[FieldError]:
    """apps validation's IsNotMoreThan100Percent."""
    if isinstance(value, str) and re.fullmatch(names.PERCENT_FMT, value) and int(value[:-1]) > 100:
        return [fe.invalid(path, gofmt.intstr(value), "must not be greater than 100%")]
    return []
