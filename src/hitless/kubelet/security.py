"""Which user an image container runs as: the pod's securityContext over the image's USER.

The kubelet merges the pod's and the container's securityContext (the container's fields win:
pkg/securitycontext/util.go DetermineEffectiveSecurityContext); when runAsUser is unset it passes
the image's user on (pkg/kubelet/kuberuntime/kuberuntime_container_linux.go, through the CRI's
ImageStatus, which keeps only the part before ":", a uid or a name); containerd then turns
runAsUsername / runAsUser / runAsGroup into one user string (internal/cri/server
container_create_linux.go generateUserString) that runc resolves in the image's /etc/passwd.
runAsNonRoot is checked as pkg/kubelet/kuberuntime/security_context_others.go verifyRunAsNonRoot.
The pod's fsGroup and supplementalGroups become the CRI's supplemental groups
(pkg/kubelet/kuberuntime/security_context.go determineEffectiveSecurityContext).
"""

from __future__ import annotations

from typing import Any

from hitless.api.types.pod import Container, Pod
from hitless.kubelet.env import ContainerConfigError


def _effective(pod: Pod, container: Container) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for source in (
        (pod.spec.model_extra or {}).get("securityContext"),
        (container.model_extra or {}).get("securityContext"),
    ):
        if isinstance(source, dict):
            for key in ("runAsUser", "runAsGroup", "runAsNonRoot"):
                if source.get(key) is not None:
                    merged[key] = source[key]
    return merged


def container_user(pod: Pod, container: Container, image_user: str | None) -> str | None:
    """The user string for the runtime (``uid``, ``uid:gid``, ``name``, ``name:gid``), or None."""
    sc = _effective(pod, container)
    uid: int | None = sc.get("runAsUser")
    gid: int | None = sc.get("runAsGroup")
    username = ""
    image_part = (image_user or "").split(":", 1)[0]
    if uid is None and image_part:
        if image_part.isdigit():
            uid = int(image_part)
        else:
            username = image_part
    if sc.get("runAsNonRoot"):
        where = f"(pod: {pod.name}_{pod.namespace}({pod.metadata.uid}), container: {container.name})"
        if uid is None and username:
            raise ContainerConfigError(
                f"container has runAsNonRoot and image has non-numeric user ({username}), "
                f"cannot verify user is non-root {where}"
            )
        if uid is None or uid == 0:
            raise ContainerConfigError(f"container has runAsNonRoot and image will run as root {where}")
    user = username or (str(uid) if uid is not None else "")
    if not user:
        if gid is not None:
            raise ContainerConfigError(f'user group "{gid}" is specified without user')
        return None
    return f"{user}:{gid}" if gid is not None else user


def supplemental_groups(pod: Pod) -> tuple[tuple[int, ...], bool]:
    """The CRI's ``SupplementalGroups`` (the pod's fsGroup, then its supplementalGroups, as the
    kubelet appends them) and whether the image's /etc/group memberships are merged in: yes
    unless ``supplementalGroupsPolicy: Strict`` (containerd's containerSpecOpts, Merge
    and Strict)."""
    sc = (pod.spec.model_extra or {}).get("securityContext")
    if not isinstance(sc, dict):
        return (), True
    groups: list[int] = []
    if isinstance(sc.get("fsGroup"), int):
        groups.append(sc["fsGroup"])
    groups += [g for g in sc.get("supplementalGroups") or [] if isinstance(g, int)]
    return tuple(groups), sc.get("supplementalGroupsPolicy") != "Strict"
