"""Where a pull finds an image: the run's archives, the local Docker or Podman store, the
registry or its mirrors.

Apart from store.py because each source is its own protocol (archive formats, a `docker save`
child, the OCI distribution API with its credentials and mirrors) while the store's own job is
the cache: sharing pulls, the lock, naming and unpacking what a source brought. A source only
fills the layout and hands the manifest to the store's ``finish``.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from hitless.images.archive import ArchiveImage, import_image, pick_platform, save_from_local_store, scan
from hitless.images.auth import Credential, default_auth_files, file_credential, pull_secret_credentials
from hitless.images.errors import ImagePullError, RegistryUnavailable
from hitless.images.flatten import check_layer_types
from hitless.images.layout import INDEX_TYPES, Layout
from hitless.images.model import Image, PullOptions
from hitless.images.reference import Reference, is_loopback_host
from hitless.images.registry import Repository, endpoints, host_of, new_client

# The pod's imagePullSecrets as the kubelet passes them: each Secret's decoded
# ``.dockerconfigjson`` (``{"auths": {...}}``) or legacy ``.dockercfg`` (``{host: {...}}``).
PullSecrets = Sequence[Mapping[str, Any]]

# The store's unpack-and-name step: (reference, manifest digest, media type, repo digest) -> Image.
Finish = Callable[[Reference, str, str, str | None], Awaitable[Image]]


class Sources:
    """The sources of one store's pulls; the archive index is read once, on first use."""

    def __init__(self, layout: Layout, options: PullOptions, finish: Finish) -> None:
        self.layout = layout
        self.options = options
        self._finish = finish
        self._archives: dict[str, ArchiveImage] | None = None

    async def archive_index(self) -> dict[str, ArchiveImage]:
        if self._archives is None:
            found: dict[str, ArchiveImage] = {}
            for path in self.options.archives:
                for image in await asyncio.to_thread(scan, path):
                    for name in image.names:
                        found.setdefault(name, image)
            self._archives = found
        return self._archives

    async def from_archives(self, ref: Reference) -> Image | None:
        if not self.options.archives:
            return None
        archives = await self.archive_index()
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

    async def from_local_store(self, ref: Reference) -> Image | None:
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

    async def from_registry(self, ref: Reference, auth: PullSecrets | None) -> Image:
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
