"""StatefulSets and DaemonSets: ``ValidateStatefulSet`` and ``ValidateDaemonSet`` of
``k8s.io/kubernetes/pkg/apis/apps/validation/validation.go``, in their words and order.

Deliberate difference: a StatefulSet's pod template goes through ``ValidatePodTemplateSpec`` as a
DaemonSet's does (upstream checks only its labels and annotations at this point, and a broken
container is refused later, when the controller creates the pod), so that an invalid container
is reported with its ``file:line`` before anything runs; it is checked as the controller makes
the pods, with a volume per ``volumeClaimTemplates`` entry, so a mount of a claim is found.
"""

from __future__ import annotations

from typing import Any

from hitless.api import errors as fe
from hitless.api import gofmt
from hitless.api.errors import FieldError
from hitless.api.fieldpath import Path
from hitless.api.validation import names
from hitless.api.validation.apps import _int_or_percent_value, _intstr, _percent, _positive_int_or_percent
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

POD_MANAGEMENT_POLICIES = ("OrderedReady", "Parallel")
RETENTION_POLICIES = ("Retain", "Delete")


def validate_statefulset(statefulset: Obj) -> list[FieldError]:
    # ValidateStatefulSetName is NameIsDNSLabel: the name is the pods' hostname prefix.
    errs = validate_object_meta(
        o(statefulset, "metadata"), True, names.name_is_dns_label, Path.new("metadata")
    )
    return errs + _validate_statefulset_spec(o(statefulset, "spec") or {}, Path.new("spec"))


def _validate_statefulset_spec(spec: Obj, path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    policy = s(spec, "podManagementPolicy")
    if policy == "":
        errs.append(fe.required(path.child("podManagementPolicy")))
    elif policy not in POD_MANAGEMENT_POLICIES:
        errs.append(
            fe.invalid(path.child("podManagementPolicy"), policy, "must be 'OrderedReady' or 'Parallel'")
        )
    strategy = o(spec, "updateStrategy") or {}
    kind, rolling = s(strategy, "type"), o(strategy, "rollingUpdate")
    if kind == "":
        errs.append(fe.required(path.child("updateStrategy")))
    elif kind == "OnDelete":
        if rolling is not None:
            errs.append(
                fe.invalid(
                    path.child("updateStrategy", "rollingUpdate"),
                    _rolling_literal(rolling),
                    "only allowed for updateStrategy 'RollingUpdate'",
                )
            )
    elif kind == "RollingUpdate":
        if rolling is not None:
            errs += _validate_rolling_update_statefulset(
                rolling, path.child("updateStrategy", "rollingUpdate")
            )
    else:
        rolling_ptr = (
            "(*apps.RollingUpdateStatefulSetStrategy)(nil)"
            if rolling is None
            else "(*apps.RollingUpdateStatefulSetStrategy)(0xc000000000)"
        )
        value = gofmt.GoLiteral(
            f"apps.StatefulSetUpdateStrategy{{Type:{gofmt.quote(kind)}, RollingUpdate:{rolling_ptr}}}"
        )
        errs.append(fe.invalid(path.child("updateStrategy"), value, "must be 'RollingUpdate' or 'OnDelete'"))
    retention = o(spec, "persistentVolumeClaimRetentionPolicy")
    if retention is not None:
        for key in ("whenDeleted", "whenScaled"):
            if s(retention, key) not in RETENTION_POLICIES:
                errs.append(
                    fe.not_supported(
                        path.child("persistentVolumeClaimRetentionPolicy", key),
                        s(retention, key),
                        RETENTION_POLICIES,
                    )
                )
    errs += validate_nonnegative(n(spec, "replicas"), path.child("replicas"))
    errs += validate_nonnegative(n(spec, "minReadySeconds"), path.child("minReadySeconds"))
    ordinals = o(spec, "ordinals")
    if ordinals is not None:
        errs += validate_nonnegative(n(ordinals, "start"), path.child("ordinals.start"))
    errs += _validate_selector_and_template(spec, path, "statefulset")
    errs += _validate_restart_and_deadline(spec, path, "StatefulSet")
    return errs


def _rolling_literal(rolling: Obj) -> gofmt.GoLiteral:
    # %#v of a struct of pointers prints addresses, which hitless cannot reproduce (as apps.py).
    partition = "(*int32)(nil)" if rolling.get("partition") is None else "(*int32)(0xc000000000)"
    max_unavailable = (
        "(*intstr.IntOrString)(nil)"
        if rolling.get("maxUnavailable") is None
        else "(*intstr.IntOrString)(0xc000000000)"
    )
    return gofmt.GoLiteral(
        f"&apps.RollingUpdateStatefulSetStrategy{{Partition:{partition}, MaxUnavailable:{max_unavailable}}}"
    )


def _validate_rolling_update_statefulset(rolling: Obj, path: Path) -> list[FieldError]:
    errs = validate_nonnegative(n(rolling, "partition"), path.child("partition"))
    raw: Any = rolling.get("maxUnavailable")
    if raw is not None:
        value = _intstr(raw)
        errs += _positive_int_or_percent(value, path.child("maxUnavailable"))
        if _int_or_percent_value(value) == 0:
            errs.append(fe.invalid(path.child("maxUnavailable"), gofmt.intstr(value), "cannot be 0"))
        errs += _not_more_than_100_percent(value, path.child("maxUnavailable"))
    return errs


def _not_more_than_100_percent(value: int | str, path: Path) -> list[FieldError]:
    percent = _percent(value)
    if percent is None or percent <= 100:
        return []
    return [fe.invalid(path, gofmt.intstr(value), "must not be greater than 100%")]


def _validate_selector_and_template(spec: Obj, path: Path, kind: str) -> list[FieldError]:
    """The selector and template checks StatefulSets and DaemonSets share, in their order."""
    errs: list[FieldError] = []
    raw_selector = o(spec, "selector")
    template = o(spec, "template") or {}
    labels = string_map(o(template, "metadata"), "labels")
    if kind == "statefulset":
        if raw_selector is None:
            errs.append(fe.required(path.child("selector")))
        else:
            errs += validate_label_selector(raw_selector, path.child("selector"))
            if not string_map(raw_selector, "matchLabels") and not raw_selector.get("matchExpressions"):
                errs.append(
                    fe.invalid(
                        path.child("selector"),
                        gofmt.label_selector(raw_selector),
                        "empty selector is invalid for statefulset",
                    )
                )
        selector = Selector(raw_selector)
        if not selector.convertible():
            errs.append(fe.invalid(path.child("selector"), gofmt.label_selector(raw_selector), ""))
        elif not selector.empty and not selector.matches(labels):
            errs.append(
                fe.invalid(
                    path.child("template", "metadata", "labels"),
                    gofmt.string_map(labels),
                    "`selector` does not match template `labels`",
                )
            )
        errs += validate_pod_template_spec(_with_claim_volumes(spec, template), path.child("template"))
        return errs
    if raw_selector is not None:
        errs += validate_label_selector(raw_selector, path.child("selector"))
    selector = Selector(raw_selector)
    if selector.convertible() and not selector.matches(labels):
        errs.append(
            fe.invalid(
                path.child("template", "metadata", "labels"),
                gofmt.string_map(labels),
                "`selector` does not match template `labels`",
            )
        )
    if (
        raw_selector is not None
        and not string_map(raw_selector, "matchLabels")
        and not raw_selector.get("matchExpressions")
    ):
        errs.append(
            fe.invalid(
                path.child("selector"),
                gofmt.label_selector(raw_selector),
                "empty selector is invalid for daemonset",
            )
        )
    errs += validate_pod_template_spec(template, path.child("template"))
    return errs


def _with_claim_volumes(spec: Obj, template: Obj) -> Obj:
    """The template as the controller makes its pods (``updateStorage`` of stateful_set_utils.go):
    a ``persistentVolumeClaim`` volume per claim template, in place of a volume of the same name,
    so that a volumeMount naming a claim template is found (upstream leaves the union of volumes
    and claim templates unchecked: the TODO in ``ValidatePodTemplateSpecForStatefulSet``)."""
    names = [
        s(o(t, "metadata"), "name") for t in spec.get("volumeClaimTemplates") or [] if isinstance(t, dict)
    ]
    if not names:
        return template
    pod_spec = dict(o(template, "spec") or {})
    kept = [v for v in pod_spec.get("volumes") or [] if not (isinstance(v, dict) and v.get("name") in names)]
    claims = [{"name": name, "persistentVolumeClaim": {"claimName": name}} for name in names]
    # After the template's own volumes, so that an error on one keeps its index.
    pod_spec["volumes"] = kept + claims
    return {**template, "spec": pod_spec}


def _validate_restart_and_deadline(spec: Obj, path: Path, kind: str) -> list[FieldError]:
    pod_spec = o(o(spec, "template"), "spec") or {}
    errs: list[FieldError] = []
    restart = s(pod_spec, "restartPolicy")
    if restart != "Always":
        errs.append(fe.not_supported(path.child("template", "spec", "restartPolicy"), restart, ["Always"]))
    if opt_int(pod_spec, "activeDeadlineSeconds") is not None:
        errs.append(
            fe.forbidden(
                path.child("template", "spec", "activeDeadlineSeconds"),
                f"activeDeadlineSeconds in {kind} is not Supported",
            )
        )
    return errs


def validate_daemonset(daemonset: Obj) -> list[FieldError]:
    errs = validate_object_meta(
        o(daemonset, "metadata"), True, names.name_is_dns_subdomain, Path.new("metadata")
    )
    return errs + _validate_daemonset_spec(o(daemonset, "spec") or {}, Path.new("spec"))


def _validate_daemonset_spec(spec: Obj, path: Path) -> list[FieldError]:
    errs = _validate_selector_and_template(spec, path, "daemonset")
    errs += _validate_restart_and_deadline(spec, path, "DaemonSet")
    errs += validate_nonnegative(n(spec, "minReadySeconds"), path.child("minReadySeconds"))
    errs += validate_nonnegative(n(spec, "templateGeneration"), path.child("templateGeneration"))
    errs += _validate_daemonset_update_strategy(o(spec, "updateStrategy") or {}, path.child("updateStrategy"))
    if (limit := opt_int(spec, "revisionHistoryLimit")) is not None:
        errs += validate_nonnegative(limit, path.child("revisionHistoryLimit"))
    return errs


def _validate_daemonset_update_strategy(strategy: Obj, path: Path) -> list[FieldError]:
    kind, rolling = s(strategy, "type"), o(strategy, "rollingUpdate")
    if kind == "OnDelete":
        return []
    if kind == "RollingUpdate":
        if rolling is None:
            return [fe.required(path.child("rollingUpdate"))]
        return _validate_rolling_update_daemonset(rolling, path.child("rollingUpdate"))
    inner = (
        "(*apps.RollingUpdateDaemonSet)(nil)"
        if rolling is None
        else "(*apps.RollingUpdateDaemonSet)(0xc000000000)"
    )
    value = gofmt.GoLiteral(
        f"&apps.DaemonSetUpdateStrategy{{Type:{gofmt.quote(kind)}, RollingUpdate:{inner}}}"
    )
    return [fe.not_supported(path, value, ("RollingUpdate", "OnDelete"))]


def _validate_rolling_update_daemonset(rolling: Obj, path: Path) -> list[FieldError]:
    max_unavailable, max_surge = _intstr(rolling.get("maxUnavailable")), _intstr(rolling.get("maxSurge"))
    errs = _positive_int_or_percent(max_unavailable, path.child("maxUnavailable"))
    errs += _positive_int_or_percent(max_surge, path.child("maxSurge"))
    errs += _not_more_than_100_percent(max_unavailable, path.child("maxUnavailable"))
    errs += _not_more_than_100_percent(max_surge, path.child("maxSurge"))
    has_unavailable = _int_or_percent_value(max_unavailable) != 0
    has_surge = _int_or_percent_value(max_surge) != 0
    if has_unavailable and has_surge:
        errs.append(
            fe.invalid(
                path.child("maxSurge"),
                gofmt.intstr(max_surge),
                "may not be set when maxUnavailable is non-zero",
            )
        )
    elif not has_unavailable and not has_surge:
        errs.append(fe.required(path.child("maxUnavailable"), "cannot be 0 when maxSurge is 0"))
    return errs
