"""A container's environment and the $(VAR) expansion of command, args and env values.

Sources: pkg/kubelet/kubelet_pods.go (makeEnvironmentVariables, podFieldSelectorRuntimeValue),
pkg/api/v1/resource/helpers.go (resourceFieldRef), third_party/forked/golang/expansion
(the $(VAR) syntax: $$ escapes, unknown references are left as written).
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Protocol

from hitless.api.types.config import ConfigMap, Secret
from hitless.api.types.pod import Container, EnvVarSource, Pod
from hitless.api.types.service import Service
from hitless.api.types.volume import (
    ResourceFieldSelector,
    ValueFromSources,
    container_env_from,
    container_resources,
)
from hitless.kubelet import quantity


class ContainerConfigError(Exception):
    """The container cannot be configured (reported as CreateContainerConfigError)."""


# kubelet_pods.go: "Cap hostname at 63 chars (specification is 64bytes which is 63 chars and the null
# terminating char)."
HOSTNAME_MAX_LEN = 63

_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.\-]*)\)")


def expand(text: str, env: Mapping[str, str]) -> str:
    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        return env.get(name, m.group(0))

    return _REF.sub(repl, text)


def base_environment(pod: Pod) -> dict[str, str]:
    """What every container gets before its own env: the image-like basics.

    PATH is the engine's, with the directory of this Python first so that ``hitless`` (the image's
    own entrypoint) resolves to the running installation. HOSTNAME is the pod's, as on a cluster.
    """
    path = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
    bindir = os.path.dirname(sys.executable)
    if bindir not in path.split(os.pathsep):
        path = bindir + os.pathsep + path
    env = {"PATH": path, "HOSTNAME": pod_hostname(pod)}
    for key in ("HOME", "LANG", "TZ"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def field_ref_value(pod: Pod, path: str, host_ip: str, pod_ip: str | None = None) -> str:
    """podFieldSelectorRuntimeValue. ``pod_ip`` is the sandbox's: the first containers start
    before any status with the pod's IP has been written."""
    pod_ip = pod_ip or pod.status.pod_ip
    meta = pod.metadata
    simple: dict[str, str | None] = {
        "metadata.name": meta.name,
        "metadata.namespace": pod.namespace,
        "metadata.uid": meta.uid,
        "spec.nodeName": pod.spec.node_name,
        "spec.serviceAccountName": (pod.spec.model_extra or {}).get("serviceAccountName", "default"),
        "status.hostIP": host_ip,
        "status.hostIPs": host_ip,
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
    }
    if path in simple:
        return simple[path] or ""
    m = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if m:
        source = meta.labels if m.group(1) == "labels" else meta.annotations
        return (source or {}).get(m.group(2), "")
    raise ContainerConfigError(f'unsupported fieldPath: "{path}"')


@dataclass(frozen=True)
class NodeAllocatable:
    """What a container's unset limits read as through the downward API (the node's allocatable)."""

    cpu: Fraction
    memory: Fraction
    ephemeral_storage: Fraction


class ConfigObjects(Protocol):
    """The kubelet's ConfigMap and Secret managers: the API's objects, or None when not found."""

    def config_map(self, namespace: str, name: str) -> ConfigMap | None: ...

    def secret(self, namespace: str, name: str) -> Secret | None: ...


class NoConfigObjects:
    """A kubelet that sees no ConfigMaps or Secrets (every reference to one is not found)."""

    def config_map(self, namespace: str, name: str) -> ConfigMap | None:
        return None

    def secret(self, namespace: str, name: str) -> Secret | None:
        return None


@dataclass
class ContainerEnvironment:
    # The process's environment: the base, the image's, then what Kubernetes sets.
    env: dict[str, str]
    # What Kubernetes sets (envFrom, then env): what $(VAR) in command, args and subPathExpr sees.
    kube_env: dict[str, str]
    # InvalidEnvironmentVariableNames messages (only with strict_env_names).
    skipped: list[str] = field(default_factory=list)


# k8s.io/apimachinery/pkg/util/validation IsEnvVarName, before KEP-4369 relaxed it.
_STRICT_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


def _strict_env_name_ok(name: str) -> bool:
    return bool(_STRICT_ENV_NAME.match(name)) and name not in (".", "..") and not name.startswith("..")


# kubelet_pods.go: the Services whose variables every pod gets, whatever enableServiceLinks says.
MASTER_SERVICES = ("kubernetes",)


def service_environment(pod: Pod, services: list[Service]) -> dict[str, str]:
    """kubelet_pods.go getServiceEnvVarMap and pkg/kubelet/envvars FromServices: for the master
    Service of ``default`` always, and for the Services of the pod's namespace when
    ``enableServiceLinks`` (default true), ``NAME_SERVICE_HOST``, ``NAME_SERVICE_PORT`` (the first
    port), ``NAME_SERVICE_PORT_<PORT NAME>`` and Docker's link variables (``NAME_PORT``,
    ``NAME_PORT_<port>_<PROTO>`` and its ``_PROTO``, ``_PORT``, ``_ADDR``). A Service without a
    cluster IP (headless, ExternalName) has none; the pod's namespace wins over ``default``."""
    links = (pod.spec.model_extra or {}).get("enableServiceLinks")
    links = True if links is None else bool(links)
    chosen: dict[str, Service] = {}
    for service in sorted(services, key=lambda s: (s.namespace, s.name)):
        ip = service.spec.cluster_ip
        if not ip or ip == "None":
            continue
        if service.namespace == "default" and service.name in MASTER_SERVICES:
            chosen.setdefault(service.name, service)
        elif service.namespace == pod.namespace and links:
            chosen[service.name] = service
    env: dict[str, str] = {}
    for name in sorted(chosen):
        service = chosen[name]
        ports = service.spec.ports or []
        if not ports:
            continue
        prefix = name.replace("-", "_").upper()
        ip = service.spec.cluster_ip or ""
        env[f"{prefix}_SERVICE_HOST"] = ip
        env[f"{prefix}_SERVICE_PORT"] = str(ports[0].port)
        for port in ports:
            if port.name:
                env[f"{prefix}_SERVICE_PORT_{port.name.replace('-', '_').upper()}"] = str(port.port)
        for i, port in enumerate(ports):
            protocol = (port.protocol or "TCP").lower()
            host_port = f"[{ip}]:{port.port}" if ":" in ip else f"{ip}:{port.port}"
            if i == 0:
                env[f"{prefix}_PORT"] = f"{protocol}://{host_port}"
            port_prefix = f"{prefix}_PORT_{port.port}_{protocol.upper()}"
            env[port_prefix] = f"{protocol}://{host_port}"
            env[f"{port_prefix}_PROTO"] = protocol
            env[f"{port_prefix}_PORT"] = str(port.port)
            env[f"{port_prefix}_ADDR"] = ip
    return env


def container_environment(
    pod: Pod,
    container: Container,
    image_env: Mapping[str, str],
    host_ip: str,
    objects: ConfigObjects | None = None,
    allocatable: NodeAllocatable | None = None,
    strict_env_names: bool = False,
    pod_ip: str | None = None,
    service_env: Mapping[str, str] | None = None,
) -> ContainerEnvironment:
    """kubelet_pods.go makeEnvironmentVariables.

    ``envFrom`` first, then ``env`` in order (a later name replaces an earlier one); a value's
    $(VAR) sees both. A missing ConfigMap, Secret or key fails the container's configuration
    (CreateContainerConfigError) unless the reference is ``optional``, in which case the variable
    is not set at all. Keys are taken as they are: since 1.30 (KEP-4369) the kubelet no longer
    skips envFrom keys that are not C-like names; ``strict_env_names`` restores the 1.29 rule
    (skipped, reported as InvalidEnvironmentVariableNames). The Services' variables
    (:func:`service_environment`) are seen by $(VAR) and set unless the container sets the name.
    """
    objects = objects or NoConfigObjects()
    service_env = dict(service_env or {})
    ns = pod.namespace
    env = base_environment(pod)
    env.update(image_env)
    declared: dict[str, str] = {}
    skipped: list[str] = []
    config_maps: dict[str, ConfigMap] = {}
    secrets: dict[str, Secret] = {}

    def get_config_map(name: str) -> ConfigMap | None:
        if name not in config_maps:
            found = objects.config_map(ns, name)
            if found is None:
                return None
            config_maps[name] = found
        return config_maps[name]

    def get_secret(name: str) -> Secret | None:
        if name not in secrets:
            found = objects.secret(ns, name)
            if found is None:
                return None
            secrets[name] = found
        return secrets[name]

    for source in container_env_from(container):
        values: dict[str, str]
        if source.config_map_ref is not None:
            kind, name, optional = "configMap", source.config_map_ref.name, source.config_map_ref.optional
            cm = get_config_map(name)
            if cm is None:
                if optional:
                    continue
                raise ContainerConfigError(f'configmap "{name}" not found')
            values = dict(cm.data or {})
        elif source.secret_ref is not None:
            kind, name, optional = "secret", source.secret_ref.name, source.secret_ref.optional
            secret = get_secret(name)
            if secret is None:
                if optional:
                    continue
                raise ContainerConfigError(f'secret "{name}" not found')
            values = {k: v.decode(errors="surrogateescape") for k, v in secret.decoded().items()}
        else:
            continue
        invalid: list[str] = []
        for key, value in values.items():
            key = (source.prefix or "") + key
            if strict_env_names and not _strict_env_name_ok(key):
                invalid.append(key)
                continue
            declared[key] = value
        if invalid:
            skipped.append(
                f"Keys [{', '.join(sorted(invalid))}] from the EnvFrom {kind} {ns}/{name} were skipped "
                "since they are considered invalid environment variable names."
            )

    for var in container.env or []:
        if var.value:
            # expansion.MappingFuncFor(tmpEnv, serviceEnv): the container's own names first.
            value = expand(var.value, {**service_env, **declared})
        elif var.value_from is not None:
            resolved = _value_from(
                pod, container, var.value_from, host_ip, pod_ip, allocatable, get_config_map, get_secret
            )
            if resolved is None:
                continue  # an optional reference that is not there: the variable is not set
            value = resolved
        else:
            value = ""
        declared[var.name] = value
    kube_env = {**service_env, **declared}
    env.update(kube_env)
    return ContainerEnvironment(env, kube_env, skipped)


def _value_from(
    pod: Pod,
    container: Container,
    source: EnvVarSource,
    host_ip: str,
    pod_ip: str | None,
    allocatable: NodeAllocatable | None,
    get_config_map: Callable[[str], ConfigMap | None],
    get_secret: Callable[[str], Secret | None],
) -> str | None:
    if source.field_ref is not None:
        return field_ref_value(pod, source.field_ref.field_path, host_ip, pod_ip)
    extra = ValueFromSources.model_validate(source.model_extra or {})
    ns = pod.namespace
    if extra.resource_field_ref is not None:
        return resource_field_value(pod, container, extra.resource_field_ref, allocatable)
    if (ref := extra.config_map_key_ref) is not None:
        cm = get_config_map(ref.name)
        if cm is None:
            if ref.optional:
                return None
            raise ContainerConfigError(f'configmap "{ref.name}" not found')
        if ref.key not in (cm.data or {}):
            if ref.optional:
                return None
            raise ContainerConfigError(f"couldn't find key {ref.key} in ConfigMap {ns}/{ref.name}")
        return (cm.data or {})[ref.key]
    if (sref := extra.secret_key_ref) is not None:
        secret = get_secret(sref.name)
        if secret is None:
            if sref.optional:
                return None
            raise ContainerConfigError(f'secret "{sref.name}" not found')
        data = secret.decoded()
        if sref.key not in data:
            if sref.optional:
                return None
            raise ContainerConfigError(f"couldn't find key {sref.key} in Secret {ns}/{sref.name}")
        return data[sref.key].decode(errors="surrogateescape")
    raise ContainerConfigError("unsupported valueFrom source")


def resource_field_value(
    pod: Pod, container: Container, ref: ResourceFieldSelector, allocatable: NodeAllocatable | None
) -> str:
    """pkg/api/v1/resource/helpers.go ExtractContainerResourceValue over the container with its
    limits defaulted to the node's allocatable (kubelet_resources.go defaultPodLimitsForDownwardAPI).

    CPU is counted in millicores and memory and storage in bytes, each divided by the divisor
    (default 1) and rounded up.
    """
    if ref.container_name:
        target = pod.spec.container(ref.container_name)
        if target is None:
            raise ContainerConfigError(f"container {ref.container_name} not found")
        container = target
    limits, requests = container_resources(container)
    divisor = quantity.parse_quantity(ref.divisor) if ref.divisor not in (None, "", 0, "0") else Fraction(1)
    kind, _, name = ref.resource.partition(".")
    if kind not in ("limits", "requests") or name not in ("cpu", "memory", "ephemeral-storage"):
        raise ContainerConfigError(f"unsupported container resource : {ref.resource}")
    values = limits if kind == "limits" else requests
    if name in values:
        amount = quantity.parse_quantity(values[name])
    elif kind == "limits" and allocatable is not None:
        amount = {
            "cpu": allocatable.cpu,
            "memory": allocatable.memory,
            "ephemeral-storage": allocatable.ephemeral_storage,
        }[name]
    else:
        amount = Fraction(0)
    if name == "cpu":
        return str(math.ceil(Fraction(quantity.milli_value(amount), quantity.milli_value(divisor))))
    return str(math.ceil(Fraction(quantity.value(amount), quantity.value(divisor))))


def pod_hostname(pod: Pod) -> str:
    """The pod's hostname: spec.hostname or its name, cut to 63 characters without a trailing '-'
    or '.', as the kubelet does (kubelet_pods.go truncatePodHostnameIfNeeded): a pod name may be
    253 characters long, a hostname not (sethostname refuses more than 64 bytes)."""
    hostname = pod.spec.hostname or pod.name
    if len(hostname) <= HOSTNAME_MAX_LEN:
        return hostname
    return hostname[:HOSTNAME_MAX_LEN].rstrip("-.") or hostname[:HOSTNAME_MAX_LEN]
