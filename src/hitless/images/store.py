"""ImageStore: get an image that is present, pull one that is not, list and prune the cache.

The sources are tried as a node's runtime is configured: archives given to the run (under the
names they carry), then the local Docker or Podman store when asked, then the registry (or its
mirror). Whatever the source, the image lands in the one content-addressed layout (layout.py)
and is unpacked once; every container of it shares that tree.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hitless.images.errors import ImagePullError
from hitless.images.layout import Entry, Layout
from hitless.images.model import Image, ImageConfig, PullOptions, default_root
from hitless.images.reference import Reference, parse

# The pod's imagePullSecrets as the kubelet passes them: each Secret's decoded
# ``.dockerconfigjson`` (``{"auths": {...}}``) or legacy ``.dockercfg`` (``{host: {...}}``).
PullSecrets = Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class CachedImage:
    """One reference in the cache, for ``hitless images ls``."""

    reference: str
    id: str
    repo_digest: str | None
    size: int
    unpacked: bool
    created: str | None


@dataclass(frozen=True)
class PruneResult:
    references: list[str]
    blobs: int
    trees: int
    bytes_freed: int


class ImageStore:
    """The image cache of one machine (``root``), shared by every run and every `images` command."""

    def __init__(self, root: Path | None = None, options: PullOptions | None = None) -> None:
        self.root = root if root is not None else default_root()
        self.options = options if options is not None else PullOptions()
        self.layout = Layout(self.root)
        self._pulls: dict[str, asyncio.Task[Image]] = {}
        # Wall-clock seconds the last completed pull of each reference took (the kubelet's
        # "Successfully pulled image X in D"), for callers that want the pull alone.
        self.last_pull_seconds: dict[str, float] = {}

    # -- present images ------------------------------------------------------------------------

    def get(self, reference: str) -> Image | None:
        """The image if it is in the cache and unpacked (``IfNotPresent``); InvalidImageName if unparsable."""
        ref = parse(reference)
        entry = self._find(ref)
        if entry is None:
            return None
        return self._image(str(ref), entry)

    def _find(self, ref: Reference) -> Entry | None:
        entries = self.layout.entries()
        text = str(ref)
        for entry in entries:
            if entry.reference == text:
                return entry
        if ref.digest is not None:
            # A digest reference is present when any tag of that repository resolved to it.
            for entry in entries:
                name = _name_of(entry.reference)
                if name == ref.name and ref.digest in (entry.repo_digest, entry.manifest_digest):
                    return entry
        return None

    def _image(self, reference: str, entry: Entry) -> Image | None:
        rootfs = self.layout.rootfs(entry.manifest_digest)
        if not rootfs.is_dir() or not self.layout.has_blob(entry.manifest_digest):
            return None
        manifest = self.layout.read_json(entry.manifest_digest)
        config_digest = manifest["config"]["digest"]
        if not self.layout.has_blob(config_digest):
            return None
        config = self.layout.read_json(config_digest)
        size = entry.manifest_size + int(manifest["config"].get("size", 0))
        size += sum(int(layer.get("size", 0)) for layer in manifest.get("layers") or [])
        return Image(
            reference=reference,
            id=config_digest,
            digest=entry.repo_digest,
            rootfs=rootfs,
            config=ImageConfig.from_config_blob(config),
            size=size,
            manifest_digest=entry.manifest_digest,
        )

    def list(self) -> list[CachedImage]:
        out = []
        for entry in self.layout.entries():
            try:
                manifest = self.layout.read_json(entry.manifest_digest)
                config_digest = manifest["config"]["digest"]
                config = self.layout.read_json(config_digest)
                size = entry.manifest_size + int(manifest["config"].get("size", 0))
                size += sum(int(layer.get("size", 0)) for layer in manifest.get("layers") or [])
            except (OSError, ValueError, KeyError):
                continue
            repo_digest = f"{_name_of(entry.reference)}@{entry.repo_digest}" if entry.repo_digest else None
            out.append(
                CachedImage(
                    reference=entry.reference,
                    id=config_digest,
                    repo_digest=repo_digest,
                    size=size,
                    unpacked=self.layout.rootfs(entry.manifest_digest).is_dir(),
                    created=config.get("created"),
                )
            )
        return out

    # -- pulling -------------------------------------------------------------------------------

    async def pull(self, reference: str, auth: PullSecrets | None = None) -> Image:
        """Fetch, verify and unpack ``reference`` (again, for ``Always``); concurrent pulls share one.

        Raises :class:`ImagePullError` (``InvalidImageName`` for an unparsable reference). A
        caller cancelled while waiting leaves the shared pull running for the others.
        """
        ref = parse(reference)
        key = str(ref)
        task = self._pulls.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._pull_timed(ref, auth))
            self._pulls[key] = task
            task.add_done_callback(functools.partial(self._pull_done, key))
        return await asyncio.shield(task)

    def _pull_done(self, key: str, task: asyncio.Task[Image]) -> None:
        if self._pulls.get(key) is task:
            del self._pulls[key]
        if not task.cancelled():
            task.exception()  # retrieved: every waiter may have been cancelled

    async def _pull_timed(self, ref: Reference, auth: PullSecrets | None) -> Image:
        start = time.monotonic()
        image = await self._pull(ref, auth)
        self.last_pull_seconds[str(ref)] = time.monotonic() - start
        return image

    async def _pull(self, ref: Reference, auth: PullSecrets | None) -> Image:
        raise ImagePullError(
            f"failed to pull and unpack image {str(ref)!r}: not implemented yet", cause="unsupported"
        )

    # -- pruning -------------------------------------------------------------------------------

    def prune(self, references: set[str] | None = None, *, all_images: bool = False) -> PruneResult:
        """Drop ``references`` (or every image with ``all_images``), then every blob and tree no
        remaining reference needs, and leftovers of interrupted pulls. Waits for running pulls."""
        self.layout.ensure()
        with self.layout.locked("lock", exclusive=True):
            dropped: list[Entry] = []
            if all_images:
                dropped = self.layout.remove_entries(None)
            elif references:
                dropped = self.layout.remove_entries({str(parse(r)) for r in references})
            keep_blobs: set[str] = set()
            keep_trees: set[str] = set()
            for entry in self.layout.entries():
                keep_blobs.add(entry.manifest_digest)
                keep_trees.add(self.layout.rootfs(entry.manifest_digest).name)
                if entry.repo_digest:
                    keep_blobs.add(entry.repo_digest)  # the index of a multi-platform image
                with contextlib.suppress(OSError, ValueError, KeyError):
                    manifest = self.layout.read_json(entry.manifest_digest)
                    keep_blobs.add(manifest["config"]["digest"])
                    keep_blobs.update(layer["digest"] for layer in manifest.get("layers") or [])
            keep_hex = {d.partition(":")[2] for d in keep_blobs}
            freed = blobs = trees = 0
            for blob in list(self.layout.blobs.iterdir()):
                if blob.name not in keep_hex:
                    freed += blob.stat().st_size
                    blob.unlink()
                    blobs += 1
            for tree in list(self.layout.rootfs_dir.iterdir()):
                if tree.name not in keep_trees:
                    freed += _tree_size(tree)
                    self.layout.remove_tree(tree)
                    trees += 1
            for leftover in list(self.layout.tmp.iterdir()):
                freed += _tree_size(leftover) if leftover.is_dir() else leftover.stat().st_size
                if leftover.is_dir():
                    self.layout.remove_tree(leftover)
                else:
                    leftover.unlink()
            return PruneResult([e.reference for e in dropped], blobs, trees, freed)


def _name_of(reference: str) -> str:
    name = reference.split("@", 1)[0]
    slash, colon = name.rfind("/"), name.rfind(":")
    return name[:colon] if colon > slash else name


def _tree_size(path: Path) -> int:
    total = 0
    for sub in path.rglob("*"):
        with contextlib.suppress(OSError):
            st = sub.lstat()
            total += st.st_size
    return total
