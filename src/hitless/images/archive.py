"""Images from files: OCI layout directories, OCI archives, ``docker save`` tarballs, and the
local Docker or Podman store through ``docker save`` / ``podman save``.

- an OCI layout directory: ``oci-layout``, ``index.json`` (names from ``io.containerd.image.name``,
  else a full ``org.opencontainers.image.ref.name``), ``blobs/sha256/``;
- an OCI archive: the same layout, tarred (skopeo ``oci-archive:``, ``podman save --format
  oci-archive``);
- ``docker save``: ``manifest.json`` (``Config``, ``RepoTags``, ``Layers``: uncompressed tars);
  Docker >= 25 adds ``index.json``, which is preferred.

Images are loaded under the names they carry (``kind load image-archive`` in spirit); a name that
is only a tag (skopeo's ``oci:DIR:1.36``) names nothing. Blobs are copied into the cache and
checked against their digests on the way, like a pull.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import tarfile
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from hitless.images.errors import ImagePullError, InvalidImageName
from hitless.images.layout import (
    INDEX_TYPES,
    MEDIA_OCI_CONFIG,
    MEDIA_OCI_LAYER,
    MEDIA_OCI_MANIFEST,
    Layout,
)
from hitless.images.model import Platform
from hitless.images.reference import parse

CONTAINERD_NAME = "io.containerd.image.name"
REF_NAME = "org.opencontainers.image.ref.name"


@dataclass(frozen=True)
class ArchiveImage:
    """One image an archive carries, under its normalized names."""

    path: Path
    kind: str  # oci-dir, oci-archive, docker-archive
    names: tuple[str, ...]
    descriptor: dict[str, Any] | None = None  # OCI: the index.json entry
    docker_entry: dict[str, Any] | None = None  # docker save: the manifest.json entry


@dataclass(frozen=True)
class Imported:
    manifest_digest: str
    manifest_size: int
    media_type: str
    repo_digest: str | None


class _Reader:
    """Files of an archive by path: a directory or a tarball."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tar: tarfile.TarFile | None = None
        self.members: dict[str, tarfile.TarInfo] = {}
        if not path.is_dir():
            try:
                self.tar = tarfile.open(path, "r:*")  # noqa: SIM115 - closed by close()
            except (OSError, tarfile.TarError) as err:
                raise ImagePullError(f"image archive {path}: {err}", cause="invalid archive") from err
            for member in self.tar:
                self.members[member.name.removeprefix("./")] = member

    def close(self) -> None:
        if self.tar is not None:
            self.tar.close()

    def exists(self, name: str) -> bool:
        return (self.path / name).is_file() if self.tar is None else name in self.members

    def open(self, name: str) -> AbstractContextManager[IO[bytes]]:
        if self.tar is None:
            target = (self.path / name).resolve()
            if not target.is_relative_to(self.path.resolve()):
                raise ImagePullError(
                    f"image archive {self.path}: {name!r} is outside it", cause="invalid archive"
                )
            return open(target, "rb")
        member = self.members.get(name)
        if member is not None and member.islnk():
            member = self.members.get(member.linkname.removeprefix("./"))
        stream = self.tar.extractfile(member) if member is not None else None
        if stream is None:
            raise ImagePullError(f"image archive {self.path}: no file {name!r}", cause="invalid archive")
        return nullcontext(stream)

    def read(self, name: str) -> bytes:
        with self.open(name) as f:
            return f.read()

    def json(self, name: str) -> Any:
        try:
            return json.loads(self.read(name))
        except ValueError as err:
            raise ImagePullError(
                f"image archive {self.path}: {name}: {err}", cause="invalid archive"
            ) from err


def _names(values: list[str]) -> tuple[str, ...]:
    out = []
    for value in values:
        # A bare tag ("1.36", "latest") names no repository.
        if "/" not in value and ":" not in value and "@" not in value:
            continue
        try:
            out.append(str(parse(value)))
        except InvalidImageName:
            continue
    return tuple(dict.fromkeys(out))


def scan(path: Path) -> list[ArchiveImage]:
    """The images an archive carries and their names (reads only the small index files)."""
    if not path.exists():
        raise ImagePullError(f"image archive {path}: no such file or directory", cause="invalid archive")
    reader = _Reader(path)
    try:
        kind = "oci-dir" if reader.tar is None else "oci-archive"
        if reader.exists("index.json") and reader.exists("oci-layout"):
            index = reader.json("index.json")
            images = []
            for desc in index.get("manifests") or []:
                annotations = desc.get("annotations") or {}
                names = [annotations.get(CONTAINERD_NAME) or "", annotations.get(REF_NAME) or ""]
                images.append(ArchiveImage(path, kind, _names([n for n in names if n]), descriptor=desc))
            return images
        if reader.exists("manifest.json"):
            return [
                ArchiveImage(
                    path, "docker-archive", _names(list(entry.get("RepoTags") or [])), docker_entry=entry
                )
                for entry in reader.json("manifest.json")
            ]
        raise ImagePullError(
            f"image archive {path}: neither an OCI layout (oci-layout, index.json) nor a docker save "
            "archive (manifest.json)",
            cause="invalid archive",
        )
    finally:
        reader.close()


def _copy_checked(layout: Layout, source: IO[bytes], digest: str | None) -> tuple[str, int]:
    """Copy a stream into the cache; refuse it unless it hashes to ``digest`` (when given)."""
    fd, temp = layout.temp_file()
    try:
        hasher = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(1 << 20):
                hasher.update(chunk)
                out.write(chunk)
                size += len(chunk)
        got = "sha256:" + hasher.hexdigest()
        if digest is not None and got != digest:
            raise ImagePullError(f"blob {digest}: digest mismatch: got {got}", cause="digest mismatch")
        if not layout.has_blob(got):
            layout.commit_blob(temp, got)
        return got, size
    finally:
        temp.unlink(missing_ok=True)


def pick_platform(index: dict[str, Any], platform: Platform, where: str) -> dict[str, Any]:
    """The host's entry of a multi-platform index (containerd/platforms matching: os, architecture,
    and the variant when both say one)."""
    fallback = None
    for desc in index.get("manifests") or []:
        p = desc.get("platform") or {}
        if p.get("os") != platform.os or p.get("architecture") != platform.architecture:
            continue
        if platform.variant and p.get("variant") and p["variant"] != platform.variant:
            continue
        if desc.get("mediaType") in INDEX_TYPES:
            continue
        if not platform.variant or p.get("variant") == platform.variant:
            return dict(desc)
        fallback = fallback or dict(desc)
    if fallback is not None:
        return fallback
    raise ImagePullError(f"no match for platform in manifest {where}: not found", cause="not found")


def _import_sync(layout: Layout, image: ArchiveImage, platform: Platform) -> Imported:
    reader = _Reader(image.path)
    try:
        if image.descriptor is not None:
            return _import_oci(layout, reader, image.descriptor, platform)
        assert image.docker_entry is not None
        return _import_docker(layout, reader, image.docker_entry)
    finally:
        reader.close()


def _blob(layout: Layout, reader: _Reader, digest: str) -> None:
    if layout.has_blob(digest):
        return
    algorithm, _, encoded = digest.partition(":")
    with reader.open(f"blobs/{algorithm}/{encoded}") as stream:
        _copy_checked(layout, stream, digest)


def _import_oci(layout: Layout, reader: _Reader, desc: dict[str, Any], platform: Platform) -> Imported:
    top = str(desc["digest"])
    _blob(layout, reader, top)
    media_type = desc.get("mediaType", MEDIA_OCI_MANIFEST)
    body = layout.read_json(top)
    manifest_desc = desc
    if media_type in INDEX_TYPES or "manifests" in body:
        manifest_desc = pick_platform(body, platform, top)
        _blob(layout, reader, manifest_desc["digest"])
    manifest_digest = str(manifest_desc["digest"])
    manifest = layout.read_json(manifest_digest)
    for blob in [manifest["config"], *(manifest.get("layers") or [])]:
        _blob(layout, reader, blob["digest"])
    return Imported(
        manifest_digest=manifest_digest,
        manifest_size=layout.blob_path(manifest_digest).stat().st_size,
        media_type=manifest_desc.get("mediaType", MEDIA_OCI_MANIFEST),
        repo_digest=top,
    )


def _import_docker(layout: Layout, reader: _Reader, entry: dict[str, Any]) -> Imported:
    config_bytes = reader.read(str(entry["Config"]))
    config_digest = layout.put_blob(config_bytes)
    layers = []
    for name in entry.get("Layers") or []:
        with reader.open(str(name)) as stream:
            digest, size = _copy_checked(layout, stream, None)
        with open(layout.blob_path(digest), "rb") as f:
            gzipped = f.read(2) == b"\x1f\x8b"
        layers.append(
            {"mediaType": MEDIA_OCI_LAYER + ("+gzip" if gzipped else ""), "digest": digest, "size": size}
        )
    # docker save has no manifest: write the OCI manifest `docker load` would imply.
    manifest = {
        "schemaVersion": 2,
        "mediaType": MEDIA_OCI_MANIFEST,
        "config": {"mediaType": MEDIA_OCI_CONFIG, "digest": config_digest, "size": len(config_bytes)},
        "layers": layers,
    }
    data = json.dumps(manifest, separators=(",", ":")).encode()
    digest = layout.put_blob(data)
    return Imported(
        manifest_digest=digest, manifest_size=len(data), media_type=MEDIA_OCI_MANIFEST, repo_digest=None
    )


async def import_image(layout: Layout, image: ArchiveImage, platform: Platform) -> Imported:
    try:
        return await asyncio.to_thread(_import_sync, layout, image, platform)
    except (OSError, KeyError, TypeError, tarfile.TarError) as err:
        raise ImagePullError(
            f"image archive {image.path}: {type(err).__name__}: {err}", cause="invalid archive"
        ) from err


async def save_from_local_store(command: tuple[str, ...], reference: str, dest: Path, timeout: float) -> bool:
    """``docker save`` / ``podman save`` ``reference`` into ``dest``; False if that store lacks it."""
    argv = [*command, "save"]
    if os.path.basename(command[0]) == "podman":
        argv += ["--format", "docker-archive"]
    argv += ["-o", str(dest), reference]
    if shutil.which(command[0]) is None:
        raise ImagePullError(
            f"--image-source {os.path.basename(command[0])}: {command[0]!r} is not installed",
            cause="local store",
        )
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError as exc:
        proc.kill()
        await proc.wait()
        raise ImagePullError(f"{' '.join(argv)}: timed out after {timeout:g}s", cause="local store") from exc
    if proc.returncode != 0:
        text = err.decode(errors="replace").lower()
        if "no such image" in text or "not known" in text or "not found" in text or "does not exist" in text:
            return False
        raise ImagePullError(f"{' '.join(argv)}: {err.decode(errors='replace').strip()}", cause="local store")
    return True
