"""Containers: names, image, ports, env, mounts, probes and lifecycle hooks.

A port of the container half of ``k8s.io/kubernetes/pkg/apis/core/validation/validation.go``,
same order of checks, same paths and messages, with the feature gates as in 1.34
(RelaxedEnvironmentVariableValidation and PodLifecycleSleepActionAllowZero are GA).
"""

from __future__ import annotations

from collections.abc import Sequence

from hitless.api import errors as fe
from hitless.api.errors import FieldError
from hitless.api.fieldpath import Path
from hitless.api.validation import names
from hitless.api.validation.meta import Obj, items, n, o, objs, opt_int, s, validate_nonnegative

SUPPORTED_PORT_PROTOCOLS = ("SCTP", "TCP", "UDP")  # sets.List: sorted
SUPPORTED_PULL_POLICIES = ("Always", "IfNotPresent", "Never")
SUPPORTED_HTTP_SCHEMES = ("HTTP", "HTTPS")
TERMINATION_MESSAGE_POLICIES = ("File", "FallbackToLogsOnError")
INIT_RESTART_POLICIES = ("Always",)
# validEnvDownwardAPIFieldPathExpressions, sorted as sets.List prints them.
ENV_FIELD_PATHS = (
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
)
# What ConvertDownwardAPIFieldLabel (pkg/apis/core/pods/helpers.go) accepts for v1 besides spec.host.
_CONVERTIBLE_FIELD_PATHS = {
    *ENV_FIELD_PATHS,
    "metadata.annotations",
    "metadata.labels",
    "spec.restartPolicy",
    "spec.schedulerName",
    "status.phase",
}


def validate_container_common(ctr: Obj, volumes: set[str], path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    name = s(ctr, "name")
    if not name:
        errs.append(fe.required(path.child("name")))
    else:
        errs += [fe.invalid(path.child("name"), name, m) for m in names.is_dns1123_label(name)]
    if not s(ctr, "image"):
        errs.append(fe.required(path.child("image")))
    policy = s(ctr, "terminationMessagePolicy")
    if not policy:
        errs.append(fe.required(path.child("terminationMessagePolicy")))
    elif policy not in TERMINATION_MESSAGE_POLICIES:
        errs.append(
            fe.not_supported(path.child("terminationMessagePolicy"), policy, TERMINATION_MESSAGE_POLICIES)
        )
    errs += validate_container_ports(objs(ctr, "ports"), path.child("ports"))
    errs += validate_env(objs(ctr, "env"), path.child("env"))
    errs += validate_volume_mounts(objs(ctr, "volumeMounts"), volumes, path.child("volumeMounts"))
    pull = s(ctr, "imagePullPolicy")
    if not pull:
        errs.append(fe.required(path.child("imagePullPolicy")))
    elif pull not in SUPPORTED_PULL_POLICIES:
        errs.append(fe.not_supported(path.child("imagePullPolicy"), pull, SUPPORTED_PULL_POLICIES))
    # Not ported: resources, resizePolicy, securityContext, envFrom, volumeDevices.
    return errs


def validate_container_ports(ports: Sequence[Obj], path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[str] = set()
    for i, port in enumerate(ports):
        p = path.index(i)
        name = s(port, "name")
        if name:
            if msgs := names.is_valid_port_name(name):
                errs += [fe.invalid(p.child("name"), name, m) for m in msgs]
            elif name in seen:
                errs.append(fe.duplicate(p.child("name"), name))
            else:
                seen.add(name)
        container_port = n(port, "containerPort")
        if container_port == 0:
            errs.append(fe.required(p.child("containerPort")))
        else:
            errs += [
                fe.invalid(p.child("containerPort"), container_port, m)
                for m in names.is_valid_port_num(container_port)
            ]
        host_port = n(port, "hostPort")
        if host_port:
            errs += [
                fe.invalid(p.child("hostPort"), host_port, m) for m in names.is_valid_port_num(host_port)
            ]
        protocol = s(port, "protocol")
        if not protocol:
            errs.append(fe.required(p.child("protocol")))
        elif protocol not in SUPPORTED_PORT_PROTOCOLS:
            errs.append(fe.not_supported(p.child("protocol"), protocol, SUPPORTED_PORT_PROTOCOLS))
    return errs


def validate_env(env: Sequence[Obj], path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, var in enumerate(env):
        p = path.index(i)
        name = s(var, "name")
        if not name:
            errs.append(fe.required(p.child("name")))
        else:
            errs += [fe.invalid(p.child("name"), name, m) for m in names.is_relaxed_env_var_name(name)]
        errs += _validate_env_value_from(var, p.child("valueFrom"))
    return errs


def _validate_env_value_from(var: Obj, path: Path) -> list[FieldError]:
    source = o(var, "valueFrom")
    if source is None:
        return []
    errs: list[FieldError] = []
    count = 0
    if (field_ref := o(source, "fieldRef")) is not None:
        count += 1
        errs += _validate_field_ref(field_ref, path.child("fieldRef"))
    if o(source, "resourceFieldRef") is not None:
        count += 1  # its contents are not validated by hitless
    for key in ("configMapKeyRef", "secretKeyRef"):
        if (ref := o(source, key)) is not None:
            count += 1
            errs += _validate_key_selector(ref, path.child(key))
    if count == 0:
        errs.append(
            fe.invalid(
                path,
                "",
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            )
        )
    elif s(var, "value"):
        errs.append(fe.invalid(path, "", "may not be specified when `value` is not empty"))
    elif count > 1:
        errs.append(fe.invalid(path, "", "may not have more than one field specified at a time"))
    return errs


def _validate_field_ref(ref: Obj, path: Path) -> list[FieldError]:
    """``validateObjectFieldSelector`` with the env var field paths."""
    api_version, field_path = s(ref, "apiVersion"), s(ref, "fieldPath")
    if not api_version:
        return [fe.required(path.child("apiVersion"))]
    if not field_path:
        return [fe.required(path.child("fieldPath"))]
    subscripted = split_subscript(field_path)
    # ConvertDownwardAPIFieldLabel (pkg/apis/core/pods/helpers.go)
    problem = ""
    if api_version != "v1":
        problem = f"unsupported pod version: {api_version}"
    elif subscripted is not None and subscripted[0] not in ("metadata.annotations", "metadata.labels"):
        problem = f"field label does not support subscript: {field_path}"
    elif subscripted is None and field_path not in _CONVERTIBLE_FIELD_PATHS and field_path != "spec.host":
        problem = f"field label not supported: {field_path}"
    if problem:
        return [fe.invalid(path.child("fieldPath"), field_path, f"error converting fieldPath: {problem}")]
    if subscripted is not None:
        # Reported on the fieldRef itself, annotation keys case-insensitively (lower-cased).
        base, key = subscripted
        key = key.lower() if base == "metadata.annotations" else key
        return [fe.invalid(path, key, m) for m in names.is_qualified_name(key)]
    converted = "spec.nodeName" if field_path == "spec.host" else field_path
    if converted not in ENV_FIELD_PATHS:
        return [fe.not_supported(path.child("fieldPath"), converted, ENV_FIELD_PATHS)]
    return []


def split_subscript(field_path: str) -> tuple[str, str] | None:
    """``fieldpath.SplitMaybeSubscriptedPath``: ``metadata.labels['app']`` is (metadata.labels, app)."""
    if not field_path.endswith("']"):
        return None
    base, sep, key = field_path.removesuffix("']").partition("['")
    return (base, key) if sep and base else None


def _validate_key_selector(ref: Obj, path: Path) -> list[FieldError]:
    name = s(ref, "name")
    errs = [fe.invalid(path.child("name"), name, m) for m in names.name_is_dns_subdomain(name, False)]
    key = s(ref, "key")
    if not key:
        errs.append(fe.required(path.child("key")))
    else:
        errs += [fe.invalid(path.child("key"), key, m) for m in names.is_config_map_key(key)]
    return errs


def validate_volume_mounts(mounts: Sequence[Obj], volumes: set[str], path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    mount_points: set[str] = set()
    for i, mount in enumerate(mounts):
        p = path.index(i)
        name, mount_path = s(mount, "name"), s(mount, "mountPath")
        if not name:
            errs.append(fe.required(p.child("name")))
        if name not in volumes:
            errs.append(fe.not_found(p.child("name"), name))
        if not mount_path:
            errs.append(fe.required(p.child("mountPath")))
        if mount_path in mount_points:
            errs.append(fe.invalid(p.child("mountPath"), mount_path, "must be unique"))
        mount_points.add(mount_path)
    return errs


# --- probes and handlers ---------------------------------------------------------------------


def validate_probe(probe: Obj | None, grace: int | None, path: Path, kind: str) -> list[FieldError]:
    """validateLivenessProbe / validateReadinessProbe / validateStartupProbe."""
    if probe is None:
        return []
    errs = validate_handler(probe, ("exec", "httpGet", "tcpSocket", "grpc"), grace, path)
    for key in (
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ):
        errs += validate_nonnegative(n(probe, key), path.child(key))
    probe_grace = opt_int(probe, "terminationGracePeriodSeconds")
    if probe_grace is not None and probe_grace <= 0:
        errs.append(
            fe.invalid(path.child("terminationGracePeriodSeconds"), probe_grace, "must be greater than 0")
        )
    if kind in ("liveness", "startup") and n(probe, "successThreshold") != 1:
        errs.append(fe.invalid(path.child("successThreshold"), n(probe, "successThreshold"), "must be 1"))
    if kind == "readiness" and probe_grace is not None:
        errs.append(
            fe.invalid(
                path.child("terminationGracePeriodSeconds"),
                probe_grace,
                "must not be set for readinessProbes",
            )
        )
    return errs


def validate_lifecycle(lifecycle: Obj, grace: int | None, path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    for hook in ("postStart", "preStop"):
        if (handler := o(lifecycle, hook)) is not None:
            errs += validate_handler(
                handler, ("exec", "httpGet", "tcpSocket", "sleep"), grace, path.child(hook)
            )
    return errs


def validate_handler(handler: Obj, kinds: Sequence[str], grace: int | None, path: Path) -> list[FieldError]:
    """Exactly one handler type; tcpSocket stays accepted in lifecycle hooks (upstream has no rule)."""
    errs: list[FieldError] = []
    count = 0
    for kind in kinds:
        action = o(handler, kind)
        if action is None:
            continue
        if count:
            errs.append(fe.forbidden(path.child(kind), "may not specify more than 1 handler type"))
            continue
        count += 1
        errs += _validate_action(kind, action, grace, path.child(kind))
    if count == 0:
        errs.append(fe.required(path, "must specify a handler type"))
    return errs


def _validate_action(kind: str, action: Obj, grace: int | None, path: Path) -> list[FieldError]:
    if kind == "exec":
        return [] if items(action, "command") else [fe.required(path.child("command"))]
    if kind == "httpGet":
        errs: list[FieldError] = []
        if not s(action, "path"):
            errs.append(fe.required(path.child("path")))
        errs += validate_port_num_or_name(action.get("port"), path.child("port"))
        scheme = s(action, "scheme")
        if scheme not in SUPPORTED_HTTP_SCHEMES:
            errs.append(fe.not_supported(path.child("scheme"), scheme, SUPPORTED_HTTP_SCHEMES))
        for header in objs(action, "httpHeaders"):
            # Upstream reports these on httpHeaders itself, without an index.
            name = s(header, "name")
            errs += [fe.invalid(path.child("httpHeaders"), name, m) for m in names.is_http_header_name(name)]
        return errs
    if kind in ("tcpSocket", "grpc"):
        return validate_port_num_or_name(action.get("port"), path.child("port"))
    seconds = n(action, "seconds")  # sleep, with PodLifecycleSleepActionAllowZero (GA in 1.34)
    if grace is not None and (seconds < 0 or seconds > grace):
        return [
            fe.invalid(
                path, seconds, f"must be non-negative and less than terminationGracePeriodSeconds ({grace})"
            )
        ]
    return []


def validate_port_num_or_name(port: object, path: Path) -> list[FieldError]:
    """``ValidatePortNumOrName`` on an IntOrString; a missing one is the int 0."""
    if isinstance(port, str):
        return [fe.invalid(path, port, m) for m in names.is_valid_port_name(port)]
    value = port if isinstance(port, int) and not isinstance(port, bool) else 0
    return [fe.invalid(path, value, m) for m in names.is_valid_port_num(value)]


def check_host_port_conflicts(containers: Sequence[Obj], path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[str] = set()
    for ci, ctr in enumerate(containers):
        for pi, port in enumerate(objs(ctr, "ports")):
            host_port = n(port, "hostPort")
            if not host_port:
                continue
            key = f"{s(port, 'protocol')}/{s(port, 'hostIP')}/{host_port}"
            if key in seen:
                errs.append(fe.duplicate(path.index(ci).child("ports").index(pi).child("hostPort"), key))
            seen.add(key)
    return errs
