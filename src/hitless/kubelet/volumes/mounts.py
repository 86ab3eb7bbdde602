"""A container's mounts, as kubelet_pods.go makeMounts builds them for the runtime.

Each ``volumeMounts`` entry becomes a :class:`~hitless.runtime.cri.Mount` of the volume's host
path. ``subPathExpr`` is expanded from the container's environment (kubecontainer
ExpandContainerVolumeMounts); a ``subPath`` that does not exist is created as a directory; the
path is then resolved inside the volume (subpath's PrepareSafeSubpath binds what the path
resolves to, never something outside the volume). A ConfigMap's ``subPath`` therefore binds one
file of the current ``..data`` directory: later updates of the ConfigMap do not reach it, as on
a node. Volumes filled from the API (configMap, secret, downwardAPI, projected) are always
read-only, whatever the mount says (their Mounter's ReadOnly attribute).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from hitless.api.types.pod import Container, Pod
from hitless.api.types.volume import Volume, container_volume_mounts, pod_volumes
from hitless.kubelet.env import ContainerConfigError
from hitless.kubelet.volumes.plugins import REMOUNTED, source_kind
from hitless.runtime import cri

_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.\-]*)\)")
_PROPAGATION = {None: "private", "None": "private", "HostToContainer": "rslave", "Bidirectional": "rshared"}


def expand_sub_path_expr(expr: str, env: Mapping[str, str]) -> str:
    missing: set[str] = set()

    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        value = env.get(m.group(1), "")
        if not value:
            missing.add(m.group(1))
        return value

    expanded = _REF.sub(repl, expr)
    if missing:
        raise ContainerConfigError(f"missing value for {', '.join(sorted(missing))}")
    return expanded


def make_mounts(
    pod: Pod, container: Container, mounted: Mapping[str, Path], env: Mapping[str, str]
) -> tuple[cri.Mount, ...]:
    volumes: dict[str, Volume] = {v.name: v for v in pod_volumes(pod)}
    mounts: list[cri.Mount] = []
    for mount in container_volume_mounts(container):
        volume = volumes.get(mount.name)
        host_path = mounted.get(mount.name)
        if volume is None or host_path is None:
            raise ContainerConfigError(
                f'cannot find volume "{mount.name}" to mount into container "{container.name}"'
            )
        sub_path = mount.sub_path or ""
        if mount.sub_path_expr:
            sub_path = expand_sub_path_expr(mount.sub_path_expr, env)
        if sub_path:
            if os.path.isabs(sub_path):
                raise ContainerConfigError(f"error SubPath `{sub_path}` must not be an absolute path")
            if ".." in sub_path.split("/"):
                raise ContainerConfigError(f"unable to provision SubPath `{sub_path}`: must not contain '..'")
            host_path = _prepare_sub_path(host_path, sub_path, mount.name, container.name)
        kind = source_kind(volume)
        must_read_only = kind in REMOUNTED or bool(
            kind == "persistent_volume_claim"
            and volume.persistent_volume_claim is not None
            and volume.persistent_volume_claim.read_only
        )
        propagation = _PROPAGATION.get(mount.mount_propagation)
        if propagation is None:
            raise ContainerConfigError(f'invalid MountPropagation mode: "{mount.mount_propagation}"')
        mounts.append(
            cri.Mount(
                container_path=mount.mount_path,
                host_path=str(host_path),
                readonly=bool(mount.read_only) or must_read_only,
                propagation=propagation,
            )
        )
    return tuple(mounts)


def _prepare_sub_path(volume_path: Path, sub_path: str, volume: str, container: str) -> Path:
    path = volume_path / sub_path
    if not os.path.lexists(path):
        # Created now, with the volume's own mode, so that it is not made later with another.
        try:
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(volume_path.stat().st_mode & 0o7777)
        except OSError as exc:
            raise ContainerConfigError(
                f'failed to create subPath directory for volumeMount "{volume}" of container "{container}"'
            ) from exc
    resolved = Path(os.path.realpath(path))
    root = Path(os.path.realpath(volume_path))
    if resolved != root and root not in resolved.parents:
        raise ContainerConfigError(
            f'failed to prepare subPath for volumeMount "{volume}" of container "{container}"'
        )
    return resolved
