"""ImageStore: get an image that is present, pull one that is not, list and prune the cache.

The sources are tried as a node's runtime is configured: archives given to the run (under the
names they carry), then the local Docker or Podman store when asked, then the registry (or its
mirror). Whatever the source, the image lands in the one content-addressed layout (layout.py)
and is unpacked once; every container of it shares that tree. Each source's protocol is in
sources.py, and pruning the cache in prune.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from hitless.images.errors import ImagePullError, RegistryUnavailable
from hitless.images.flatten import check_layer_types, commit_tree, unpack
from hitless.images.layout import Entry, Layout
from hitless.images.lease import Lease
from hitless.images.model import Image, ImageConfig, PullOptions, default_root
from hitless.images.owners import Owners
from hitless.images.owners import current as current_owners
from hitless.images.prune import PruneResult, tree_size
from hitless.images.prune import prune as prune_cache
from hitless.images.reference import Reference, go_quote, parse
from hitless.images.sources import PullSecrets, Sources
from hitless.tasks import cancel_and_wait


@dataclass(frozen=True)
class CachedImage:
    """One reference in the cache, for ``hitless images ls``."""

    reference: str
    id: str
    repo_digest: str | None
    # The content (manifest, config, layers) plus every unpacked tree.
    size: int
    # Each unpacked tree by its variant (owners.py: how its owners were written): its size.
    trees: dict[str, int]
    created: str | None

    @property
    def unpacked(self) -> bool:
        return bool(self.trees)


class ImageStore:
    """The image cache of one machine (``root``), shared by every run and every `images` command."""

    def __init__(
        self,
        root: Path | None = None,
        options: PullOptions | None = None,
        *,
        lease: bool = False,
        owners: Owners | None = None,
    ) -> None:
        self.root = root if root is not None else default_root()
        self.options = options if options is not None else PullOptions()
        self.layout = Layout(self.root)
        # A run's store (lease=True) names every image it hands out in its lease (lease.py), so
        # that `hitless images prune` in another process leaves them be; `hitless images` has none.
        self._lease = Lease(self.root) if lease else None
        self._pulls: dict[str, asyncio.Task[Image]] = {}
        self._unpacks: dict[str, asyncio.Task[Image | None]] = {}
        # Where pulls find images (sources.py); each lands here through _finish.
        self._sources = Sources(self.layout, self.options, self._finish)
        # Wall-clock seconds the last completed pull of each reference took (the kubelet's
        # "Successfully pulled image X in D"), for callers that want the pull alone.
        self.last_pull_seconds: dict[str, float] = {}
        # Which tree variant this store's runs take and make (None: this process's, owners.py).
        self._owners = owners

    @property
    def owners(self) -> Owners:
        """How this process's unpacks write owners, so which tree variant its runs take; read
        when first needed (an unprivileged engine makes its user namespace before)."""
        if self._owners is None:
            self._owners = current_owners()
        return self._owners

    # -- present images ------------------------------------------------------------------------

    def get(self, reference: str, *, any_owners: bool = False) -> Image | None:
        """The image if it is in the cache and unpacked for this store's owners (``IfNotPresent``);
        InvalidImageName if unparsable. ``any_owners``: in any tree, for a reader of its files
        that runs nothing in it (``hitless check``)."""
        ref = parse(reference)
        if self._lease is None:
            entry = self._find(ref)
            return self._image(str(ref), entry, any_owners) if entry is not None else None
        # Under the shared lock, as a pull: a prune either finished before (the image is gone,
        # or kept) or starts after the lease names it. Prune holds the lock only for renames.
        with self.layout.locked("lock", exclusive=False):
            entry = self._find(ref)
            image = self._image(str(ref), entry, any_owners) if entry is not None else None
            if image is not None:
                self._lease.add(image.manifest_digest, image.reference)
            return image

    async def unpack_present(self, reference: str) -> Image | None:
        """The image if its content is in the cache, unpacking the tree this store's owners need
        when only that is missing (owners.py); None if the content is not all here. Pods that
        ask at once share one unpack. The kubelet takes such an image as present, as containerd
        has an image once its content is there and unpacks it for a snapshotter on demand."""
        ref = parse(reference)
        key = str(ref)
        task = self._unpacks.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._unpack_present(ref))
            self._unpacks[key] = task
            task.add_done_callback(functools.partial(self._unpack_done, key))
        return await asyncio.shield(task)

    def _unpack_done(self, key: str, task: asyncio.Task[Image | None]) -> None:
        if self._unpacks.get(key) is task:
            del self._unpacks[key]
        if not task.cancelled():
            task.exception()  # retrieved: every waiter may have been cancelled

    async def _unpack_present(self, ref: Reference) -> Image | None:
        await asyncio.to_thread(self.layout.ensure)
        async with self._shared_lock():
            image = await self._from_cache(ref)
            if image is not None and self._lease is not None:
                self._lease.add(image.manifest_digest, image.reference)
            return image

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

    def _image(self, reference: str, entry: Entry, any_owners: bool = False) -> Image | None:
        rootfs = self.layout.rootfs(entry.manifest_digest, self.owners.variant)
        if any_owners and not rootfs.is_dir():
            rootfs = next(iter(self.layout.trees(entry.manifest_digest).values()), rootfs)
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

    def list_images(self) -> list[CachedImage]:
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
            trees = {v: tree_size(t) for v, t in self.layout.trees(entry.manifest_digest).items()}
            out.append(
                CachedImage(
                    reference=entry.reference,
                    id=config_digest,
                    repo_digest=repo_digest,
                    size=size + sum(trees.values()),
                    trees=trees,
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

    async def aclose(self) -> None:
        """Stop pulls still in flight (the engine is stopping); what they fetched so far stays
        out of sight in tmp/ until the next prune."""
        await cancel_and_wait(*self._pulls.values(), *self._unpacks.values())

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
        display = go_quote(str(ref))
        try:
            await asyncio.to_thread(self.layout.ensure)
            async with self._shared_lock():
                image = await self._sources.from_archives(ref)
                if image is None and self.options.source != "registry":
                    image = await self._sources.from_local_store(ref)
                if image is None:
                    image = await self._sources.from_registry(ref, auth)
                if self._lease is not None:
                    self._lease.add(image.manifest_digest, image.reference)
                return image
        except ImagePullError as err:
            if isinstance(err, RegistryUnavailable):
                raise
            # containerd's wording around every pull failure (the kubelet shows it verbatim).
            err.args = (f"failed to pull and unpack image {display}: {err.message}",)
            err.message = err.args[0]
            raise
        except OSError as err:
            raise ImagePullError(
                f"failed to pull and unpack image {display}: {type(err).__name__}: {err}", cause="cache"
            ) from err

    @contextlib.asynccontextmanager
    async def _shared_lock(self) -> AsyncIterator[None]:
        # Pulls share the cache lock; prune takes it alone so it never removes a pull's blobs.
        def acquire() -> int:
            fd = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            fcntl.flock(fd, fcntl.LOCK_SH)
            return fd

        pending = asyncio.ensure_future(asyncio.to_thread(acquire))
        try:
            fd = await asyncio.shield(pending)
        except asyncio.CancelledError:
            # The thread still takes the lock (prune may hold it); release it once it has.
            pending.add_done_callback(_close_acquired)
            raise
        try:
            yield
        finally:
            os.close(fd)

    async def _from_cache(self, ref: Reference) -> Image | None:
        """An image whose content is here but not unpacked for this process's owners (pulled by
        a normal user, now run with subordinate ids or as root): unpack the tree it needs beside
        the others, from the cache, as containerd unpacks present content into another
        snapshotter. A pull (``Always``, `hitless images pull`) goes to the source instead."""
        entry = self._find(ref)
        if entry is None or self.layout.rootfs(entry.manifest_digest, self.owners.variant).is_dir():
            return None
        try:
            manifest = self.layout.read_json(entry.manifest_digest)
            needed = [manifest["config"]["digest"], *(layer["digest"] for layer in manifest["layers"])]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not all(self.layout.has_blob(digest) for digest in needed):
            return None
        return await self._finish(ref, entry.manifest_digest, entry.media_type, entry.repo_digest)

    async def _finish(
        self, ref: Reference, manifest_digest: str, media_type: str, repo_digest: str | None
    ) -> Image:
        """Unpack (once) and name the image; return it."""
        manifest = self.layout.read_json(manifest_digest)
        layers = manifest.get("layers") or []
        check_layer_types(layers)
        owners = self.owners
        final = self.layout.rootfs(manifest_digest, owners.variant)
        if not final.is_dir():
            # A new tree beside the image's others: one a running container uses is never touched.
            temp = await unpack(self.layout, [layer["digest"] for layer in layers], owners=owners)
            await asyncio.to_thread(commit_tree, self.layout, temp, final, owners)
        size = self.layout.blob_path(manifest_digest).stat().st_size
        entry = Entry(str(ref), manifest_digest, size, media_type, repo_digest)
        await asyncio.to_thread(self.layout.set_entry, entry)
        image = self._image(str(ref), entry)
        if image is None:
            raise ImagePullError(
                f"image {manifest_digest} vanished from the cache while it was stored", cause="cache"
            )
        return image

    async def load_archives(self) -> list[Image]:
        """Load every image of the run's archives into the cache, under all their names, so that
        ``get`` finds them (images loaded onto a node, present for ``IfNotPresent`` and ``Never``)."""
        await asyncio.to_thread(self.layout.ensure)
        loaded = []
        for name in await self._sources.archive_index():
            loaded.append(await self.pull(name))
        return loaded

    # -- pruning -------------------------------------------------------------------------------

    def prune(self, references: set[str] | None = None, *, all_images: bool = False) -> PruneResult:
        """Drop ``references`` (or every image with ``all_images``) and all nothing else needs
        (prune.py); an image a running hitless holds a lease on is kept."""
        return prune_cache(self.layout, references, all_images=all_images)


def _close_acquired(future: asyncio.Future[int]) -> None:
    if not future.cancelled() and future.exception() is None:
        os.close(future.result())


def _name_of(reference: str) -> str:
    name = reference.split("@", 1)[0]
    slash, colon = name.rfind("/"), name.rfind(":")
    return name[:colon] if colon > slash else name
