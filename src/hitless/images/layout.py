"""The cache: one OCI image layout directory (image-spec image-layout.md), shared by every run.

```
<root>/oci-layout, index.json      the OCI layout (skopeo and umoci read it: oci:<root>:<reference>)
<root>/blobs/sha256/<hex>          manifests, configs, layers, by digest
<root>/rootfs/<hex>.<variant>      each image flattened once per way its owners are written
                                   (owners.py: ``root``, ``flat-<uid>-<gid>``, ``map-<hash>``),
                                   keyed by its platform manifest digest; ``<hex>.<variant>.json``
                                   beside it records those owners
<root>/tmp/                        downloads and unpacks in progress, renamed into place when whole
<root>/leases/<id>.lock, .json     a running hitless's lease on the images it uses (lease.py)
<root>/lock, index.lock            flock(2): pulls share ``lock``, prune takes it alone; index.json
                                   is rewritten (temp + rename) under ``index.lock``
```

Nothing is ever half-written where a reader looks: a blob is streamed to ``tmp/``, checked against
its digest, then renamed; a tree is unpacked in ``tmp/`` and renamed; a failed step removes its
temporary file. Two runs pulling the same image at once both download, and the second rename
finds the first's result and keeps it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REF_NAME = "org.opencontainers.image.ref.name"
# The digest the reference resolved to at its registry (an index's, for a multi-platform image).
REPO_DIGEST = "io.hitless.image.repo-digest"

MEDIA_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MEDIA_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MEDIA_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
INDEX_TYPES = (MEDIA_OCI_INDEX, MEDIA_DOCKER_LIST)
MANIFEST_TYPES = (MEDIA_OCI_MANIFEST, MEDIA_DOCKER_MANIFEST)


@dataclass(frozen=True)
class Entry:
    """One reference in index.json: the platform manifest it names."""

    reference: str
    manifest_digest: str
    manifest_size: int
    media_type: str
    repo_digest: str | None


def hex_of(digest: str) -> str:
    algorithm, _, encoded = digest.partition(":")
    if algorithm != "sha256" or len(encoded) != 64 or not all(c in "0123456789abcdef" for c in encoded):
        raise ValueError(f"unsupported digest {digest!r}")
    return encoded


def sha256_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Layout:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs" / "sha256"
        self.rootfs_dir = root / "rootfs"
        self.tmp = root / "tmp"

    def ensure(self) -> None:
        for directory in (self.blobs, self.rootfs_dir, self.tmp):
            directory.mkdir(parents=True, exist_ok=True)
        if not (self.root / "oci-layout").exists():
            self._write_atomic(self.root / "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        if not (self.root / "index.json").exists():
            self._write_atomic(self.root / "index.json", self._index_bytes([]))

    # -- locks ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self, name: str, exclusive: bool) -> Iterator[None]:
        """flock ``<root>/<name>``; blocks, so call it from a thread in async code."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)

    # -- blobs ---------------------------------------------------------------------------------

    def blob_path(self, digest: str) -> Path:
        return self.blobs / hex_of(digest)

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).exists()

    def read_blob(self, digest: str) -> bytes:
        return self.blob_path(digest).read_bytes()

    def read_json(self, digest: str) -> Any:
        return json.loads(self.read_blob(digest))

    def temp_file(self) -> tuple[int, Path]:
        self.tmp.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.tmp, prefix="blob-")
        return fd, Path(name)

    def commit_blob(self, temp: Path, digest: str) -> None:
        """Rename a checked temp file into place (another run's identical blob may already be there)."""
        os.chmod(temp, 0o644)
        os.replace(temp, self.blob_path(digest))

    def put_blob(self, data: bytes) -> str:
        digest = sha256_of(data)
        if not self.has_blob(digest):
            fd, temp = self.temp_file()
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                self.commit_blob(temp, digest)
            except BaseException:
                temp.unlink(missing_ok=True)
                raise
        return digest

    def _write_atomic(self, path: Path, data: bytes) -> None:
        self.tmp.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.tmp, prefix="meta-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(name, 0o644)
            os.replace(name, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
            raise

    # -- index.json ----------------------------------------------------------------------------

    def entries(self) -> list[Entry]:
        try:
            index = json.loads((self.root / "index.json").read_bytes())
        except FileNotFoundError:
            return []
        out = []
        for desc in index.get("manifests") or []:
            annotations = desc.get("annotations") or {}
            name = annotations.get(REF_NAME)
            if not name:
                continue
            out.append(
                Entry(
                    reference=name,
                    manifest_digest=desc["digest"],
                    manifest_size=int(desc.get("size", 0)),
                    media_type=desc.get("mediaType", MEDIA_OCI_MANIFEST),
                    repo_digest=annotations.get(REPO_DIGEST),
                )
            )
        return out

    @staticmethod
    def _index_bytes(entries: list[Entry]) -> bytes:
        manifests = []
        for e in sorted(entries, key=lambda e: e.reference):
            annotations = {REF_NAME: e.reference}
            if e.repo_digest:
                annotations[REPO_DIGEST] = e.repo_digest
            manifests.append(
                {
                    "mediaType": e.media_type,
                    "digest": e.manifest_digest,
                    "size": e.manifest_size,
                    "annotations": annotations,
                }
            )
        index = {"schemaVersion": 2, "mediaType": MEDIA_OCI_INDEX, "manifests": manifests}
        return json.dumps(index, indent=2).encode() + b"\n"

    def set_entry(self, entry: Entry) -> None:
        if entry in self.entries():
            return  # a re-pull (Always) that found the same image: nothing to rewrite
        with self.locked("index.lock", exclusive=True):
            entries = [e for e in self.entries() if e.reference != entry.reference]
            entries.append(entry)
            self._write_atomic(self.root / "index.json", self._index_bytes(entries))

    def remove_entries(
        self, references: set[str] | None, keep: AbstractSet[str] = frozenset()
    ) -> list[Entry]:
        """Drop these references (None: all) but those naming a manifest in ``keep``; return
        what was dropped."""
        with self.locked("index.lock", exclusive=True):
            entries = self.entries()
            dropped = [
                e
                for e in entries
                if (references is None or e.reference in references) and e.manifest_digest not in keep
            ]
            kept = [e for e in entries if e not in dropped]
            self._write_atomic(self.root / "index.json", self._index_bytes(kept))
            return dropped

    # -- unpacked trees ------------------------------------------------------------------------

    def rootfs(self, manifest_digest: str, variant: str) -> Path:
        return self.rootfs_dir / f"{hex_of(manifest_digest)}.{variant}"

    def trees(self, manifest_digest: str) -> dict[str, Path]:
        """Every unpacked tree of the image, by variant (a tree from before variants, named
        ``<hex>`` alone, has owners nobody recorded: no run takes it, prune removes it)."""
        prefix = hex_of(manifest_digest) + "."
        try:
            names = os.listdir(self.rootfs_dir)
        except FileNotFoundError:
            return {}
        return {
            name[len(prefix) :]: self.rootfs_dir / name
            for name in sorted(names)
            if name.startswith(prefix) and not name.endswith(".json") and (self.rootfs_dir / name).is_dir()
        }

    def write_record(self, tree: Path, record: dict[str, Any]) -> None:
        self._write_atomic(tree.with_name(tree.name + ".json"), json.dumps(record, sort_keys=True).encode())

    def read_record(self, tree: Path) -> dict[str, Any] | None:
        try:
            record = json.loads(tree.with_name(tree.name + ".json").read_bytes())
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) else None

    def remove_tree(self, path: Path, record: dict[str, Any] | None = None) -> None:
        # A tree may hold read-only directories (mode 0555 from the image): root removes them
        # anyway; a rootless unpack made them writable by its owner first.
        shutil.rmtree(path, ignore_errors=True)
        if path.exists() and record is not None and record.get("owners") == "mapped" and os.geteuid() != 0:
            _remove_mapped(path, record)


def _remove_mapped(path: Path, record: dict[str, Any]) -> None:
    """A tree an unprivileged engine unpacked through its subordinate ids, removed by its user
    from outside that namespace (``hitless images prune``): its files belong to those ids, so
    ``rm`` runs in a namespace with the same map, as ``podman unshare rm`` would (util-linux
    2.38's ``unshare --map-users``, through newuidmap). Left as it is if that cannot be done."""
    argv = ["unshare", "--map-root-user"]
    try:
        for flag, key in (("--map-users", "uidMap"), ("--map-groups", "gidMap")):
            for inside, outside, count in record[key]:
                if int(inside) != 0:
                    argv.append(f"{flag}={int(outside)},{int(inside)},{int(count)}")
    except (KeyError, TypeError, ValueError):
        return
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(
            [*argv, "--", "rm", "-rf", "--", str(path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=300,
            check=False,
        )
