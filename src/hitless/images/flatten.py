"""Unpack an image's layers into a fresh tree in the cache's tmp/, in the chrooted child (unpacker.py).

The child runs as ``python -I unpacker.py``: isolated from the environment and without the
package's import (it needs only the stdlib and zstd), so it starts in tens of milliseconds. As
a normal user it runs in a user namespace of its own (``unshare --user --map-root-user``) to be
allowed to chroot; ownership then flattens to the user.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from hitless.images.errors import ImagePullError
from hitless.images.layout import Layout
from hitless.images.owners import Owners
from hitless.images.owners import current as current_owners

UNPACKER = Path(__file__).with_name("unpacker.py")
SUPPORTED_LAYERS = {
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
}


def check_layer_types(layers: Sequence[dict[str, object]]) -> None:
    for layer in layers:
        media_type = str(layer.get("mediaType", ""))
        if media_type not in SUPPORTED_LAYERS:
            raise ImagePullError(
                f"unsupported layer media type {media_type!r} ({layer.get('digest')})", cause="unsupported"
            )


async def unpack(
    layout: Layout, layer_digests: Sequence[str], rootless: bool | None = None, owners: Owners | None = None
) -> Path:
    """A new tree under tmp/ holding the flattened layers; the caller renames it into place
    (commit_tree) under the name of ``owners`` (default: what this process writes, owners.py).

    ``rootless`` (default: not running as root) unpacks in a user namespace of its own, where
    only the user's id is mapped: every file then belongs to the user.

    Raises ImagePullError (cause ``invalid layer``) and removes the tree if a layer is refused.
    """
    layout.tmp.mkdir(parents=True, exist_ok=True)
    dest = Path(tempfile.mkdtemp(dir=layout.tmp, prefix="rootfs-"))
    os.chmod(dest, 0o755)
    fds: list[int] = []
    try:
        for digest in layer_digests:
            fds.append(os.open(layout.blob_path(digest), os.O_RDONLY | os.O_CLOEXEC))
        argv = [sys.executable, "-I", str(UNPACKER), str(dest), *map(str, fds)]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        own_namespace = rootless if rootless is not None else os.geteuid() != 0
        if owners is None:
            owners = current_owners(own_namespace)
        elif owners.kind == "flattened" and owners != current_owners(False):
            own_namespace = True  # flattened asked of a process that would keep owners
        if own_namespace:
            argv = ["unshare", "--user", "--map-root-user", *argv]
            env["HITLESS_UNPACK_ROOTLESS"] = "1"
        elif owners.kind != "root":
            # Root of a user namespace (an unprivileged engine): owners it maps are kept (all of
            # an image's, with a subordinate range), the others flatten to it, as umoci --rootless.
            env["HITLESS_UNPACK_ROOTLESS"] = "1"
        proc = await asyncio.create_subprocess_exec(
            *argv, pass_fds=fds, stdin=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=env
        )
        try:
            _, err = await proc.communicate()
        except BaseException:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            raise
        text = err.decode(errors="replace").strip()
        if proc.returncode != 0:
            lines = [line for line in text.splitlines() if line.startswith("layer ")] or text.splitlines()[
                -1:
            ]
            detail = lines[-1] if lines else f"exit status {proc.returncode}"
            index = detail.split(":", 1)[0].removeprefix("layer ")
            which = layer_digests[int(index)] if index.isdigit() and int(index) < len(layer_digests) else "?"
            raise ImagePullError(
                f"failed to extract layer {which}: {detail.split(': ', 1)[-1]}", cause="invalid layer"
            )
    except BaseException:
        layout.remove_tree(dest)
        raise
    finally:
        for fd in fds:
            os.close(fd)
    return dest


def commit_tree(layout: Layout, temp: Path, final: Path, owners: Owners | None = None) -> None:
    """Rename an unpacked tree into place; if another run got there first, keep theirs.

    Its record (how its owners were written, ``<final>.json``) goes first: a tree is never in
    place without one, and a record whose tree never came is removed by prune."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if owners is not None:
        layout.write_record(final, owners.record())
    try:
        os.rename(temp, final)
    except OSError:
        if not final.is_dir():
            layout.remove_tree(temp)
            raise
        layout.remove_tree(temp)
