"""Pruning the image cache: drop references, then every blob and tree nothing needs.

Apart from store.py because it is the cache's one destructive step, with its own rules (leases
of running hitless processes keep what they use, trees renamed under the lock and removed
after it) and its own callers (`hitless images prune`); pulls never reach it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hitless.images.layout import Entry, Layout
from hitless.images.lease import live_leases
from hitless.images.reference import parse


@dataclass(frozen=True)
class PruneResult:
    references: list[str]
    blobs: int
    trees: int
    bytes_freed: int
    # Images a running `hitless up`/`verify` holds a lease on: kept.
    in_use: list[str] = field(default_factory=list)


def prune(layout: Layout, references: set[str] | None = None, *, all_images: bool = False) -> PruneResult:
    """Drop ``references`` (or every image with ``all_images``), then every blob and tree no
    remaining reference needs, and leftovers of interrupted pulls. Waits for running pulls.
    An image a running `hitless up` or `verify` holds a lease on (lease.py) is kept, with
    its blobs and tree, and reported in ``in_use``."""
    layout.ensure()
    trash: list[Path] = []
    records: dict[Path, dict[str, Any] | None] = {}
    with layout.locked("lock", exclusive=True):
        leased = {digest for held in live_leases(layout.root) for digest in held.images}
        wanted: set[str] | None = None
        if not all_images:
            wanted = {str(parse(r)) for r in references} if references else set()
        in_use = [
            e.reference
            for e in layout.entries()
            if e.manifest_digest in leased and (wanted is None or e.reference in wanted)
        ]
        dropped: list[Entry] = []
        if wanted is None or wanted:
            dropped = layout.remove_entries(wanted, keep=leased)
        keep_blobs: set[str] = set(leased)
        # Trees are kept by image, every variant of it (owners.py); a tree named by its hex
        # alone predates variants and is kept only while a run (of that older hitless) holds it.
        keep_images = {d.partition(":")[2] for d in leased}
        for entry in layout.entries():
            keep_blobs.add(entry.manifest_digest)
            keep_images.add(entry.manifest_digest.partition(":")[2])
            if entry.repo_digest:
                keep_blobs.add(entry.repo_digest)  # the index of a multi-platform image
        for digest in list(keep_blobs):
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                manifest = layout.read_json(digest)
                keep_blobs.add(manifest["config"]["digest"])
                keep_blobs.update(layer["digest"] for layer in manifest.get("layers") or [])
        keep_hex = {d.partition(":")[2] for d in keep_blobs}
        freed = blobs = trees = 0
        for blob in list(layout.blobs.iterdir()):
            if blob.name not in keep_hex:
                freed += blob.stat().st_size
                blob.unlink()
                blobs += 1
        # Trees and leftovers of pulls are only renamed here (the lock is held for renames,
        # so that a run's lookups wait no longer), and removed once it is released.
        for leftover in list(layout.tmp.iterdir()):
            trash.append(leftover)
        leased_hex = {d.partition(":")[2] for d in leased}
        # Trees before records: a tree's record says how to remove it (layout.remove_tree).
        found = sorted(layout.rootfs_dir.iterdir(), key=lambda p: (p.name.endswith(".json"), p.name))
        for tree in found:
            image_hex, dot, _ = tree.name.partition(".")
            if image_hex in (keep_images if dot else leased_hex):
                continue
            if tree.name.endswith(".json"):
                tree.unlink(missing_ok=True)  # the record of a tree removed with it
                continue
            moved = layout.tmp / f"pruned-{tree.name}-{secrets.token_hex(4)}"
            records[moved] = layout.read_record(tree)
            os.replace(tree, moved)
            trash.append(moved)
            trees += 1
    for path in trash:
        if path.is_dir() and not path.is_symlink():
            freed += tree_size(path)
            layout.remove_tree(path, records.get(path))
        else:
            with contextlib.suppress(OSError):
                freed += path.lstat().st_size
                path.unlink()
    return PruneResult([e.reference for e in dropped], blobs, trees, freed, in_use)


def tree_size(path: Path) -> int:
    total = 0
    for sub in path.rglob("*"):
        with contextlib.suppress(OSError):
            st = sub.lstat()
            total += st.st_size
    return total
