"""Pods and pod templates: ``ValidatePodCreate``, ``ValidatePodSpec``, ``ValidatePodTemplateSpec``.

Ported from ``k8s.io/kubernetes/pkg/apis/core/validation/validation.go`` in upstream order. Not
ported (accepted as written): volume sources beyond names, security contexts, affinity,
tolerations, topology spread, DNS config, resources, and the pod-specific annotations.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from hitless.api import errors as fe
from hitless.api.errors import FieldError
from hitless.api.fieldpath import Path
from hitless.api.validation import names
from hitless.api.validation.container import (
    INIT_RESTART_POLICIES,
    check_host_port_conflicts,
    validate_container_common,
    validate_lifecycle,
    validate_probe,
)
from hitless.api.validation.dns import validate_pod_dns_config
from hitless.api.validation.meta import (
    Obj,
    n,
    o,
    objs,
    opt_int,
    s,
    string_map,
    validate_annotations,
    validate_labels,
    validate_object_meta,
)

RESTART_POLICIES = ("Always", "OnFailure", "Never")
DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
_INIT_ONLY = "may not be set for init containers without restartPolicy=Always"
POD_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"


def validate_pod(pod: Obj) -> list[FieldError]:
    """``ValidatePodCreate``."""
    spec_path = Path.new("spec")
    spec = o(pod, "spec") or {}
    meta_path = Path.new("metadata")
    errs = validate_object_meta(o(pod, "metadata"), True, names.name_is_dns_subdomain, meta_path)
    errs += _validate_pod_specific_annotations(o(pod, "metadata"), meta_path.child("annotations"))
    errs += validate_pod_spec(spec, spec_path, resource_is_pod=True)
    for key in ("containers", "initContainers"):
        for i, ctr in enumerate(objs(spec, key)):
            image = s(ctr, "image")
            if image != image.strip():
                path = spec_path.child(key).index(i).child("image")
                errs.append(fe.invalid(path, image, "must not have leading or trailing whitespace"))
    if objs(spec, "ephemeralContainers"):
        errs.append(fe.forbidden(spec_path.child("ephemeralContainers"), "cannot be set on create"))
    if s(spec, "nodeName") and objs(spec, "schedulingGates"):
        errs.append(
            fe.forbidden(
                spec_path.child("nodeName"), "cannot be set until all schedulingGates have been cleared"
            )
        )
    return errs


def validate_pod_template_spec(template: Obj, path: Path) -> list[FieldError]:
    """``ValidatePodTemplateSpec``: labels and annotations are reported on ``<path>.labels``, as upstream."""
    meta = o(template, "metadata")
    errs = validate_labels(string_map(meta, "labels"), path.child("labels"))
    errs += validate_annotations(string_map(meta, "annotations"), path.child("annotations"))
    errs += _validate_pod_specific_annotations(meta, path.child("annotations"))
    errs += validate_pod_spec(o(template, "spec") or {}, path.child("spec"), resource_is_pod=False)
    if objs(o(template, "spec"), "ephemeralContainers"):
        errs.append(
            fe.forbidden(
                path.child("spec", "ephemeralContainers"), "ephemeral containers not allowed in pod template"
            )
        )
    return errs


def _validate_pod_specific_annotations(meta: Obj | None, path: Path) -> list[FieldError]:
    """The rollout-relevant part of ``ValidatePodSpecificAnnotations``: the deletion cost that decides
    which pods a scale-down removes first (``GetDeletionCostFromPodAnnotations``). Not ported: the
    mirror-pod, tolerations, seccomp and AppArmor annotations."""
    cost = (string_map(meta, "annotations") or {}).get(POD_DELETION_COST)
    if cost is None or _is_int32(cost):
        return []
    return [fe.invalid(path.key(POD_DELETION_COST), cost, "must be a 32bit integer")]


def _is_int32(value: str) -> bool:
    # validFirstDigit (a "-", a lone "0" or 1-9 first: no "+", no leading zero), then
    # strconv.ParseInt(value, 10, 32), which takes "-007".
    if not re.fullmatch(r"-[0-9]+|0|[1-9][0-9]*", value):
        return False
    return -(2**31) <= int(value) < 2**31


def validate_pod_spec(spec: Obj, path: Path, *, resource_is_pod: bool) -> list[FieldError]:
    """``ValidatePodSpec``, for a Pod or (``resource_is_pod`` false) a pod template."""
    errs: list[FieldError] = []
    grace = opt_int(spec, "terminationGracePeriodSeconds")
    if grace is None:
        errs.append(fe.required(path.child("terminationGracePeriodSeconds")))
    volumes, volume_errs = _validate_volumes(objs(spec, "volumes"), path.child("volumes"))
    errs += volume_errs
    containers, init_containers = objs(spec, "containers"), objs(spec, "initContainers")
    errs += _validate_containers(containers, volumes, grace, path.child("containers"))
    errs += _validate_init_containers(
        init_containers, containers, volumes, grace, path.child("initContainers")
    )
    errs += _validate_host_network_ports(spec, containers, path, resource_is_pod)
    restart = s(spec, "restartPolicy")
    if not restart:
        errs.append(fe.required(path.child("restartPolicy")))
    elif restart not in RESTART_POLICIES:
        errs.append(fe.not_supported(path.child("restartPolicy"), restart, RESTART_POLICIES))
    dns = s(spec, "dnsPolicy")
    if not dns:
        errs.append(fe.required(path.child("dnsPolicy")))
    elif dns not in DNS_POLICIES:
        errs.append(fe.not_supported(path.child("dnsPolicy"), dns, DNS_POLICIES))
    errs += validate_pod_dns_config(spec, path.child("dnsConfig"))
    errs += validate_labels(string_map(spec, "nodeSelector"), path.child("nodeSelector"))
    for i, gate in enumerate(objs(spec, "readinessGates")):
        condition = s(gate, "conditionType")
        gate_path = path.child("readinessGates").index(i).child("conditionType")
        errs += [fe.invalid(gate_path, condition, m) for m in names.is_qualified_name(condition)]
    for key in ("serviceAccountName", "nodeName"):
        if value := s(spec, key):
            errs += [fe.invalid(path.child(key), value, m) for m in names.name_is_dns_subdomain(value, False)]
    deadline = opt_int(spec, "activeDeadlineSeconds")
    if deadline is not None and not 1 <= deadline <= 2**31 - 1:
        errs.append(
            fe.invalid(
                path.child("activeDeadlineSeconds"), deadline, names.inclusive_range_error(1, 2**31 - 1)
            )
        )
    for key in ("hostname", "subdomain"):
        if value := s(spec, key):
            errs += [fe.invalid(path.child(key), value, m) for m in names.is_dns1123_label(value)]
    if value := s(spec, "priorityClassName"):
        errs += [
            fe.invalid(path.child("priorityClassName"), value, m)
            for m in names.name_is_dns_subdomain(value, False)
        ]
    return errs


def _validate_host_network_ports(
    spec: Obj, containers: Sequence[Obj], path: Path, resource_is_pod: bool
) -> list[FieldError]:
    """``validatePodHostNetworkDeps``: with the host's network a port is the host's port. A template
    may leave hostPort 0 (defaulted when its Pods are created); a Pod had it defaulted already."""
    if spec.get("hostNetwork") is not True:
        return []
    errs: list[FieldError] = []
    for ci, ctr in enumerate(containers):
        for pi, port in enumerate(objs(ctr, "ports")):
            host_port, container_port = n(port, "hostPort"), n(port, "containerPort")
            if (resource_is_pod or host_port != 0) and host_port != container_port:
                port_path = path.child("containers").index(ci).child("ports").index(pi).child("hostPort")
                errs.append(
                    fe.invalid(port_path, host_port, "must match `containerPort` when `hostNetwork` is true")
                )
    return errs


def _validate_volumes(volumes: Sequence[Obj], path: Path) -> tuple[set[str], list[FieldError]]:
    errs: list[FieldError] = []
    known: set[str] = set()
    for i, volume in enumerate(volumes):
        name_path = path.index(i).child("name")
        name = s(volume, "name")
        own = (
            [fe.required(name_path)]
            if not name
            else [fe.invalid(name_path, name, m) for m in names.is_dns1123_label(name)]
        )
        if name in known:
            own.append(fe.duplicate(name_path, name))
        if own:
            errs += own
        else:
            known.add(name)
    return known, errs


def _validate_containers(
    containers: Sequence[Obj], volumes: set[str], grace: int | None, path: Path
) -> list[FieldError]:
    if not containers:
        return [fe.required(path)]
    errs: list[FieldError] = []
    seen: set[str] = set()
    for i, ctr in enumerate(containers):
        p = path.index(i)
        errs += validate_container_common(ctr, volumes, p)
        name = s(ctr, "name")
        if name in seen:
            errs.append(fe.duplicate(p.child("name"), name))
        else:
            seen.add(name)
        if (lifecycle := o(ctr, "lifecycle")) is not None:
            errs += validate_lifecycle(lifecycle, grace, p.child("lifecycle"))
        errs += _probes(ctr, grace, p)
        if "restartPolicy" in ctr and ctr["restartPolicy"] is not None:
            errs.append(fe.forbidden(p.child("restartPolicy"), "may not be set for non-init containers"))
    return errs + check_host_port_conflicts(containers, path)


def _validate_init_containers(
    init_containers: Sequence[Obj],
    containers: Sequence[Obj],
    volumes: set[str],
    grace: int | None,
    path: Path,
) -> list[FieldError]:
    errs: list[FieldError] = []
    seen = {s(c, "name") for c in containers}
    for i, ctr in enumerate(init_containers):
        p = path.index(i)
        errs += validate_container_common(ctr, volumes, p)
        restart = ctr.get("restartPolicy")
        if isinstance(restart, str) and restart not in INIT_RESTART_POLICIES:
            errs.append(fe.not_supported(p.child("restartPolicy"), restart, INIT_RESTART_POLICIES))
        name = s(ctr, "name")
        if name in seen:
            errs.append(fe.duplicate(p.child("name"), name))
        elif name:
            seen.add(name)
        # Init containers run one by one, so their host ports are checked one container at a time.
        errs += check_host_port_conflicts([ctr], path)
        if restart == "Always":
            if (lifecycle := o(ctr, "lifecycle")) is not None:
                errs += validate_lifecycle(lifecycle, grace, p.child("lifecycle"))
            errs += _probes(ctr, grace, p)
        else:
            for key in ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe"):
                if o(ctr, key) is not None:
                    errs.append(fe.forbidden(p.child(key), _INIT_ONLY))
    return errs


def _probes(ctr: Obj, grace: int | None, path: Path) -> list[FieldError]:
    errs = validate_probe(o(ctr, "livenessProbe"), grace, path.child("livenessProbe"), "liveness")
    errs += validate_probe(o(ctr, "readinessProbe"), grace, path.child("readinessProbe"), "readiness")
    errs += validate_probe(o(ctr, "startupProbe"), grace, path.child("startupProbe"), "startup")
    return errs
