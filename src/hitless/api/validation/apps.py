"""Deployments: ``ValidateDeployment`` of ``k8s.io/kubernetes/pkg/apis/apps/validation/validation.go``.

The pod template goes through ``ValidatePodTemplateSpecForReplicaSet``, as upstream does for
Deployments too, hence "activeDeadlineSeconds in ReplicaSet is not Supported".
"""

from __future__ import annotations

import re
from typing import Any

from hitless.api import errors as fe
from hitless.api import gofmt
from hitless.api.errors import FieldError
from hitless.api.fieldpath import Path
from hitless.api.validation import names
from hitless.api.validation.meta import (
    Obj,
    Selector,
    n,
    o,
    opt_int,
    s,
    string_map,
    validate_label_selector,
    validate_nonnegative,
    validate_object_meta,
)
from hitless.api.validation.pod import validate_pod_template_spec

STRATEGY_TYPES = ("Recreate", "RollingUpdate")


def validate_deployment(deployment: Obj) -> list[FieldError]:
    errs = validate_object_meta(
        o(deployment, "metadata"), True, names.name_is_dns_subdomain, Path.new("metadata")
    )
    return errs + validate_deployment_spec(o(deployment, "spec") or {}, Path.new("spec"))


def validate_deployment_spec(spec: Obj, path: Path) -> list[FieldError]:
    errs = validate_nonnegative(n(spec, "replicas"), path.child("replicas"))
    raw_selector = o(spec, "selector")
    if raw_selector is None:
        errs.append(fe.required(path.child("selector")))
    else:
        errs += validate_label_selector(raw_selector, path.child("selector"))
        if not string_map(raw_selector, "matchLabels") and not raw_selector.get("matchExpressions"):
            errs.append(
                fe.invalid(
                    path.child("selector"),
                    gofmt.label_selector(raw_selector),
                    "empty selector is invalid for deployment",
                )
            )
    selector = Selector(raw_selector)
    if not selector.convertible():
        errs.append(
            fe.invalid(path.child("selector"), gofmt.label_selector(raw_selector), "invalid label selector")
        )
    else:
        errs += _validate_template_for_replica_set(
            o(spec, "template") or {}, selector, path.child("template")
        )
    errs += _validate_strategy(o(spec, "strategy") or {}, path.child("strategy"))
    errs += validate_nonnegative(n(spec, "minReadySeconds"), path.child("minReadySeconds"))
    if (limit := opt_int(spec, "revisionHistoryLimit")) is not None:
        errs += validate_nonnegative(limit, path.child("revisionHistoryLimit"))
    if (deadline := opt_int(spec, "progressDeadlineSeconds")) is not None:
        errs += validate_nonnegative(deadline, path.child("progressDeadlineSeconds"))
        if deadline <= n(spec, "minReadySeconds"):
            errs.append(
                fe.invalid(
                    path.child("progressDeadlineSeconds"), deadline, "must be greater than minReadySeconds"
                )
            )
    return errs


def _validate_template_for_replica_set(template: Obj, selector: Selector, path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    labels = string_map(o(template, "metadata"), "labels")
    if not selector.empty and not selector.matches(labels):
        errs.append(
            fe.invalid(
                path.child("metadata", "labels"),
                gofmt.string_map(labels),
                "`selector` does not match template `labels`",
            )
        )
    errs += validate_pod_template_spec(template, path)
    pod_spec = o(template, "spec") or {}
    restart = s(pod_spec, "restartPolicy")
    if restart != "Always":
        errs.append(fe.not_supported(path.child("spec", "restartPolicy"), restart, ["Always"]))
    if opt_int(pod_spec, "activeDeadlineSeconds") is not None:
        errs.append(
            fe.forbidden(
                path.child("spec", "activeDeadlineSeconds"),
                "activeDeadlineSeconds in ReplicaSet is not Supported",
            )
        )
    return errs


def _validate_strategy(strategy: Obj, path: Path) -> list[FieldError]:
    kind = s(strategy, "type")
    rolling = o(strategy, "rollingUpdate")
    if kind == "Recreate":
        if rolling is not None:
            return [
                fe.forbidden(
                    path.child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'"
                )
            ]
        return []
    if kind == "RollingUpdate":
        if rolling is None:
            return [fe.required(path.child("rollingUpdate"), "this should be defaulted and never be nil")]
        return _validate_rolling_update(rolling, path.child("rollingUpdate"))
    # Upstream passes the whole internal struct, printed with %#v (a pointer inside prints as an
    # address, which hitless cannot reproduce and shows as 0xc000000000).
    inner = (
        "(*apps.RollingUpdateDeployment)(nil)"
        if rolling is None
        else "(*apps.RollingUpdateDeployment)(0xc000000000)"
    )
    value = gofmt.GoLiteral(f"apps.DeploymentStrategy{{Type:{gofmt.quote(kind)}, RollingUpdate:{inner}}}")
    return [fe.not_supported(path, value, STRATEGY_TYPES)]


def _validate_rolling_update(rolling: Obj, path: Path) -> list[FieldError]:
    max_unavailable, max_surge = _intstr(rolling.get("maxUnavailable")), _intstr(rolling.get("maxSurge"))
    errs = _positive_int_or_percent(max_unavailable, path.child("maxUnavailable"))
    errs += _positive_int_or_percent(max_surge, path.child("maxSurge"))
    if _int_or_percent_value(max_unavailable) == 0 and _int_or_percent_value(max_surge) == 0:
        errs.append(
            fe.invalid(
                path.child("maxUnavailable"),
                gofmt.intstr(max_unavailable),
                "may not be 0 when `maxSurge` is 0",
            )
        )
    percent = _percent(max_unavailable)
    if percent is not None and percent > 100:
        errs.append(
            fe.invalid(
                path.child("maxUnavailable"), gofmt.intstr(max_unavailable), "must not be greater than 100%"
            )
        )
    return errs


def _intstr(value: Any) -> int | str:
    # A nil *IntOrString cannot reach validation (defaulting fills 25%); null decodes to int 0.
    return value if isinstance(value, int | str) and not isinstance(value, bool) else 0


def _positive_int_or_percent(value: int | str, path: Path) -> list[FieldError]:
    if isinstance(value, str):
        return [fe.invalid(path, gofmt.intstr(value), m) for m in names.is_valid_percent(value)]
    return validate_nonnegative(value, path)


def _percent(value: int | str) -> int | None:
    if isinstance(value, str) and re.fullmatch(names.PERCENT_FMT, value):
        return int(value[:-1])
    return None


def _int_or_percent_value(value: int | str) -> int:
    """``getIntOrPercentValue``: a bad percent string counts as its IntValue(), i.e. its Atoi or 0."""
    percent = _percent(value)
    if percent is not None:
        return percent
    if isinstance(value, int):
        return value
    return int(value) if re.fullmatch(r"[+-]?\d+", value) else 0
