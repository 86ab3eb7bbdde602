"""A container's environment and the $(VAR) expansion of command, args and env values.

Sources: pkg/kubelet/kubelet_pods.go (makeEnvironmentVariables), third_party/forked/golang/expansion
(the $(VAR) syntax: $$ escapes, unknown references are left as written).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping

from hitless.api.types.pod import Container, Pod


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


def field_ref_value(pod: Pod, path: str, host_ip: str) -> str:
    meta = pod.metadata
    simple: dict[str, str | None] = {
        "metadata.name": meta.name,
        "metadata.namespace": pod.namespace,
        "metadata.uid": meta.uid,
        "spec.nodeName": pod.spec.node_name,
        "spec.serviceAccountName": (pod.spec.model_extra or {}).get("serviceAccountName", "default"),
        "status.hostIP": host_ip,
        "status.hostIPs": host_ip,
        "status.podIP": pod.status.pod_ip,
        "status.podIPs": pod.status.pod_ip,
    }
    if path in simple:
        return simple[path] or ""
    m = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if m:
        source = meta.labels if m.group(1) == "labels" else meta.annotations
        return (source or {}).get(m.group(2), "")
    raise ContainerConfigError(f'unsupported fieldPath: "{path}"')


def container_environment(
    pod: Pod, container: Container, image_env: Mapping[str, str], host_ip: str
) -> tuple[dict[str, str], dict[str, str]]:
    """(the process environment, the variables $(VAR) in command and args may refer to).

    Like the kubelet, only the variables Kubernetes itself sets (the container's ``env``) take
    part in $(VAR) expansion; the image's environment does not.
    """
    env = base_environment(pod)
    env.update(image_env)
    declared: dict[str, str] = {}
    extra = container.model_extra or {}
    for source in extra.get("envFrom") or []:
        ref = source.get("configMapRef") or source.get("secretRef")
        kind = "configmap" if "configMapRef" in source else "secret"
        if ref and not ref.get("optional"):
            raise ContainerConfigError(f'{kind} "{ref.get("name", "")}" not found')
    for var in container.env or []:
        if var.value_from is not None:
            if var.value_from.field_ref is not None:
                value = field_ref_value(pod, var.value_from.field_ref.field_path, host_ip)
            else:
                value = _unsupported_source(var.value_from.model_extra or {})
        else:
            value = expand(var.value or "", declared)
        declared[var.name] = value
    env.update(declared)
    return env, declared


def _unsupported_source(extra: Mapping[str, object]) -> str:
    # hitless has no Secrets or ConfigMaps: the kubelet's message for a missing one.
    for key, kind in (("secretKeyRef", "secret"), ("configMapKeyRef", "configmap")):
        ref = extra.get(key)
        if isinstance(ref, dict):
            if ref.get("optional"):
                return ""
            raise ContainerConfigError(f'{kind} "{ref.get("name", "")}" not found')
    if "resourceFieldRef" in extra:
        # No resource limits are enforced; a limit reads as the node's allocatable would: 0 = unset.
        return "0"
    raise ContainerConfigError("unsupported valueFrom source")


def pod_hostname(pod: Pod) -> str:
    """The pod's hostname: spec.hostname or its name, cut to 63 characters without a trailing '-'
    or '.', as the kubelet does (kubelet_pods.go truncatePodHostnameIfNeeded): a pod name may be
    253 characters long, a hostname not (sethostname refuses more than 64 bytes)."""
    hostname = pod.spec.hostname or pod.name
    if len(hostname) <= HOSTNAME_MAX_LEN:
        return hostname
    return hostname[:HOSTNAME_MAX_LEN].rstrip("-.") or hostname[:HOSTNAME_MAX_LEN]
