"""Paths and users inside a container's root filesystem, resolved from outside it.

An image's root is full of absolute symlinks (``/var/run -> /run``, ``/bin/sh -> /bin/busybox``)
that mean paths *of the image*: followed by the kernel from the engine they would lead onto the
host. :func:`secure_join` walks a path one component at a time and re-roots every symlink it
meets, as runc's ``securejoin`` does, so that a mount target, a user database or an executable is
always looked up inside the image, whatever its links say.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# Linux's own limit on symlinks followed in one lookup (MAXSYMLINKS).
_MAX_LINKS = 40


def secure_join(root: str, path: str) -> str:
    """``root`` + ``path`` with every symlink resolved as if ``root`` were ``/``.

    Components that do not exist are kept as they are (the caller may create them); ``..`` never
    climbs above ``root``.
    """
    root = root.rstrip("/") or "/"
    pending = [part for part in path.split("/") if part]
    resolved: list[str] = []
    links = 0
    while pending:
        part = pending.pop(0)
        if part == ".":
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        try:
            st = os.lstat(candidate)
        except OSError:
            resolved.append(part)
            continue
        if not stat.S_ISLNK(st.st_mode):
            resolved.append(part)
            continue
        links += 1
        if links > _MAX_LINKS:
            raise OSError(errno.ELOOP, f"too many levels of symbolic links: {path}")
        target = os.readlink(candidate)
        if target.startswith("/"):
            resolved = []
        pending = [p for p in target.split("/") if p] + pending
    return os.path.join(root, *resolved) if resolved else root


def locator(root: str | None, mounts: Sequence[tuple[str, str]]) -> Callable[[str], str]:
    """Where a path of the container will be, seen from the engine before the container exists:
    under the innermost of its ``(container_path, host_path)`` mounts, else in ``root`` (the
    image's tree) or, without one, on the host. So a command or working directory that lives in
    a volume (a script from a ConfigMap) is found where the mount will put it."""
    targets = sorted(((os.path.normpath(c), h) for c, h in mounts), key=lambda m: len(m[0]), reverse=True)

    def locate(path: str) -> str:
        path = os.path.normpath(path)
        for target, host in targets:
            if path == target or path.startswith(target.rstrip("/") + "/"):
                rest = path[len(target) :]
                return secure_join(host, rest) if rest.strip("/") else host
        return secure_join(root, path) if root is not None else path

    return locate


@dataclass(frozen=True)
class Ids:
    """The user PID 1 runs as: what runc puts in the OCI spec's ``process.user``."""

    uid: int
    gid: int
    groups: tuple[int, ...] = ()
    # The user's home in the image's passwd (runc sets HOME to it when the env has none).
    home: str = "/"


def _entries(root: str, path: str) -> list[list[str]]:
    try:
        with open(secure_join(root, path), encoding="utf-8", errors="replace") as f:
            return [line.rstrip("\n").split(":") for line in f if line.strip() and not line.startswith("#")]
    except OSError:
        return []


class UserError(ValueError):
    """The image's user (or the one the pod asks for) is not in the image's user database."""


def resolve_user(
    root: str, user: str | None, supplemental: Sequence[int] = (), image_groups: bool = True
) -> Ids:
    """containerd's ``oci.WithUser`` and ``WithAdditionalGIDs`` over the image's own
    ``/etc/passwd`` and ``/etc/group`` (containerd/containerd ``pkg/oci/spec_opts.go``), then
    the CRI's supplemental groups (``internal/cri/opts/spec_opts.go`` ``WithSupplementalGroups``).

    ``user`` is ``uid``, ``uid:gid``, ``name`` or ``name:group`` (the image's USER, or what the
    pod's securityContext asks for). A numeric uid need not exist in the image: its group is then
    0, as runc runs it. A name must exist. The supplementary groups are the primary group, every
    group of the image's /etc/group that lists the user by name (unless ``image_groups`` is
    off: the pod's ``supplementalGroupsPolicy: Strict``) and ``supplemental`` (the pod's
    fsGroup and supplementalGroups), sorted as containerd's ``mergeGids`` leaves them.
    """
    passwd = [e for e in _entries(root, "/etc/passwd") if len(e) >= 4]
    group = [e for e in _entries(root, "/etc/group") if len(e) >= 3]
    text = (user or "").strip()
    user_part, _, group_part = text.partition(":")
    name: str | None = None
    if not user_part or user_part.isdigit():
        uid = int(user_part or "0")
        entry = next((e for e in passwd if e[2] == str(uid)), None)
        gid = int(entry[3]) if entry is not None and entry[3].isdigit() else 0
        name = entry[0] if entry is not None else None
    else:
        entry = next((e for e in passwd if e[0] == user_part), None)
        if entry is None or not entry[2].isdigit():
            raise UserError(f"unable to find user {user_part}: no matching entries in passwd file")
        uid, gid, name = int(entry[2]), int(entry[3]) if entry[3].isdigit() else 0, user_part
    home = entry[5] if entry is not None and len(entry) > 5 and entry[5] else "/"
    if group_part:
        if group_part.isdigit():
            gid = int(group_part)
        else:
            found = next((e for e in group if e[0] == group_part and e[2].isdigit()), None)
            if found is None:
                raise UserError(f"unable to find group {group_part}: no matching entries in group file")
            gid = int(found[2])
    # WithAdditionalGIDs: every group that lists the user by name, except one named as the user.
    extra: list[int] = []
    if name is not None and image_groups:
        for e in group:
            members = e[3].split(",") if len(e) > 3 else []
            if e[2].isdigit() and e[0] != name and name in members:
                extra.append(int(e[2]))
    groups = tuple(sorted({gid, *extra, *supplemental}))
    return Ids(uid, gid, groups, home)
