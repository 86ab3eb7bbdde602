"""ImageStore: get an image that is present, pull one that is not, list and prune the cache.

The sources are tried as a node's runtime is configured: archives given to the run (under the
names they carry), then the local Docker or Podman store when asked, then the registry (or its
mirror). Whatever the source, the image lands in the one content-addressed layout (layout.py)
and is unpacked once; every container of it shares that tree.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import json
import os
import secrets
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hitless.images.archive import ArchiveImage, import_image, pick_platform, save_from_local_store, scan
from hitless.images.auth import Credential, default_auth_files, file_credential, pull_secret_credentials
from hitless.images.errors import ImagePullError, RegistryUnavailable
from hitless.images.flatten import check_layer_types, commit_tree, unpack
from hitless.images.layout import INDEX_TYPES, Entry, Layout
from hitless.images.lease import Lease, live_leases
from hitless.images.model import Image, ImageConfig, PullOptions, default_root
from hitless.images.owners import Owners
from hitless.images.owners import current as current_owners
from hitless.images.reference import Reference, go_quote, is_loopback_host, parse
from hitless.images.registry import Repository, endpoints, host_of, new_client
from hitless.tasks import cancel_and_wait

# The pod's imagePullSecrets as the kubelet passes them: each Secret's decoded
# ``.dockerconfigjson`` (``{"auths": {...}}``) or legacy ``.dockercfg`` (``{host: {...}}``).
PullSecrets = Sequence[Mapping[str, Any]]


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


@dataclass(frozen=True)
class PruneResult:
    references: list[str]
    blobs: int
    trees: int
    bytes_freed: int
    # Images a running `hitless up`/`verify` holds a lease on: kept.
    in_use: list[str] = field(default_factory=list)


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
        self._archives: dict[str, ArchiveImage] | None = None
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
            trees = {v: _tree_size(t) for v, t in self.layout.trees(entry.manifest_digest).items()}
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
                image = await self._from_archives(ref)
                if image is None and self.options.source != "registry":
                    image = await self._from_local_store(ref)
                if image is None:
                    image = await self._from_registry(ref, auth)
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

    async def _archive_index(self) -> dict[str, ArchiveImage]:
        if self._archives is None:
            found: dict[str, ArchiveImage] = {}
            for path in self.options.archives:
                for image in await asyncio.to_thread(scan, path):
                    for name in image.names:
                        found.setdefault(name, image)
            self._archives = found
        return self._archives

    async def _from_archives(self, ref: Reference) -> Image | None:
        if not self.options.archives:
            return None
        archives = await self._archive_index()
        image = archives.get(str(ref))
        if image is None and ref.digest is not None:
            image = next(
                (a for a in archives.values() if a.descriptor and a.descriptor.get("digest") == ref.digest),
                None,
            )
        if image is None:
            return None
        imported = await import_image(self.layout, image, self.options.platform)
        return await self._finish(ref, imported.manifest_digest, imported.media_type, imported.repo_digest)

    async def load_archives(self) -> list[Image]:
        """Load every image of the run's archives into the cache, under all their names, so that
        ``get`` finds them (images loaded onto a node, present for ``IfNotPresent`` and ``Never``)."""
        await asyncio.to_thread(self.layout.ensure)
        loaded = []
        for name in await self._archive_index():
            loaded.append(await self.pull(name))
        return loaded

    async def _from_local_store(self, ref: Reference) -> Image | None:
        command = self.options.source_command or (self.options.source,)
        fd, temp = self.layout.temp_file()
        os.close(fd)
        try:
            if not await save_from_local_store(command, str(ref), temp, self.options.timeout):
                return None
            images = await asyncio.to_thread(scan, temp)
            if not images:
                return None
            imported = await import_image(self.layout, images[0], self.options.platform)
            return await self._finish(
                ref, imported.manifest_digest, imported.media_type, imported.repo_digest
            )
        finally:
            temp.unlink(missing_ok=True)

    async def _from_registry(self, ref: Reference, auth: PullSecrets | None) -> Image:
        last: ImagePullError | None = None
        for base in endpoints(ref.domain, self.options.mirrors, self.options.insecure_registries):
            host = host_of(base)
            credentials: list[Credential | None] = list(pull_secret_credentials(auth or [], host, ref.path))
            if not credentials:
                files = self.options.auth_files
                found = await file_credential(
                    files if files is not None else default_auth_files(), host, ref.path, self.options.timeout
                )
                credentials = [found]
            for credential in credentials:
                try:
                    return await self._pull_from(base, ref, credential)
                except RegistryUnavailable as err:
                    last = err
                    break  # this endpoint is down: the next mirror, if any
                except ImagePullError as err:
                    last = err
                    if err.cause != "unauthorized":
                        break
        assert last is not None
        raise last

    async def _pull_from(self, base: str, ref: Reference, credential: Credential | None) -> Image:
        async with new_client(self.options.timeout, trust_env=not is_loopback_host(host_of(base))) as client:
            repo = Repository(client, base, ref.path, credential, str(ref))
            top = await repo.manifest(ref.object, ref.digest)
            self.layout.put_blob(top.data)
            manifest_fetched = top
            if top.media_type in INDEX_TYPES:
                desc = pick_platform(json.loads(top.data), self.options.platform, top.digest)
                manifest_fetched = await repo.manifest(desc["digest"], desc["digest"])
                self.layout.put_blob(manifest_fetched.data)
            manifest = json.loads(manifest_fetched.data)
            if not isinstance(manifest.get("config"), dict) or not isinstance(manifest.get("layers"), list):
                raise ImagePullError(f"manifest {manifest_fetched.digest} has no config or layers")
            check_layer_types(manifest["layers"])
            blobs = [manifest["config"], *manifest["layers"]]
            # A few blobs at a time: a registry serves layers in parallel, and the event loop
            # keeps serving pods meanwhile.
            limit = asyncio.Semaphore(3)

            async def fetch(desc: dict[str, Any]) -> None:
                async with limit:
                    await repo.blob(self.layout, desc)

            try:
                async with asyncio.TaskGroup() as group:
                    for desc in blobs:
                        group.create_task(fetch(desc))
            except ExceptionGroup as errors:
                # The first blob that failed says why; the others were cancelled by it.
                raise errors.exceptions[0] from None
        return await self._finish(ref, manifest_fetched.digest, manifest_fetched.media_type, top.digest)

    # -- pruning -------------------------------------------------------------------------------

    def prune(self, references: set[str] | None = None, *, all_images: bool = False) -> PruneResult:
        """Drop ``references`` (or every image with ``all_images``), then every blob and tree no
        remaining reference needs, and leftovers of interrupted pulls. Waits for running pulls.
        An image a running `hitless up` or `verify` holds a lease on (lease.py) is kept, with
        its blobs and tree, and reported in ``in_use``."""
        self.layout.ensure()
        trash: list[Path] = []
        records: dict[Path, dict[str, Any] | None] = {}
        with self.layout.locked("lock", exclusive=True):
            leased = {digest for held in live_leases(self.root) for digest in held.images}
            wanted: set[str] | None = None
            if not all_images:
                wanted = {str(parse(r)) for r in references} if references else set()
            in_use = [
                e.reference
                for e in self.layout.entries()
                if e.manifest_digest in leased and (wanted is None or e.reference in wanted)
            ]
            dropped: list[Entry] = []
            if wanted is None or wanted:
                dropped = self.layout.remove_entries(wanted, keep=leased)
            keep_blobs: set[str] = set(leased)
            # Trees are kept by image, every variant of it (owners.py); a tree named by its hex
            # alone predates variants and is kept only while a run (of that older hitless) holds it.
            keep_images = {d.partition(":")[2] for d in leased}
            for entry in self.layout.entries():
                keep_blobs.add(entry.manifest_digest)
                keep_images.add(entry.manifest_digest.partition(":")[2])
                if entry.repo_digest:
                    keep_blobs.add(entry.repo_digest)  # the index of a multi-platform image
            for digest in list(keep_blobs):
                with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                    manifest = self.layout.read_json(digest)
                    keep_blobs.add(manifest["config"]["digest"])
                    keep_blobs.update(layer["digest"] for layer in manifest.get("layers") or [])
            keep_hex = {d.partition(":")[2] for d in keep_blobs}
            freed = blobs = trees = 0
            for blob in list(self.layout.blobs.iterdir()):
                if blob.name not in keep_hex:
                    freed += blob.stat().st_size
                    blob.unlink()
                    blobs += 1
            # Trees and leftovers of pulls are only renamed here (the lock is held for renames,
            # so that a run's lookups wait no longer), and removed once it is released.
            for leftover in list(self.layout.tmp.iterdir()):
                trash.append(leftover)
            leased_hex = {d.partition(":")[2] for d in leased}
            # Trees before records: a tree's record says how to remove it (layout.remove_tree).
            found = sorted(self.layout.rootfs_dir.iterdir(), key=lambda p: (p.name.endswith(".json"), p.name))
            for tree in found:
                image_hex, dot, _ = tree.name.partition(".")
                if image_hex in (keep_images if dot else leased_hex):
                    continue
                if tree.name.endswith(".json"):
                    tree.unlink(missing_ok=True)  # the record of a tree removed with it
                    continue
                moved = self.layout.tmp / f"pruned-{tree.name}-{secrets.token_hex(4)}"
                records[moved] = self.layout.read_record(tree)
                os.replace(tree, moved)
                trash.append(moved)
                trees += 1
        for path in trash:
            if path.is_dir() and not path.is_symlink():
                freed += _tree_size(path)
                self.layout.remove_tree(path, records.get(path))
            else:
                with contextlib.suppress(OSError):
                    freed += path.lstat().st_size
                    path.unlink()
        return PruneResult([e.reference for e in dropped], blobs, trees, freed, in_use)


def _close_acquired(future: asyncio.Future[int]) -> None:
    if not future.cancelled() and future.exception() is None:
        os.close(future.result())


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
