"""One tree per way its owners were written (images/owners.py): a tree a normal user's `hitless
images pull` flattened is never taken by a run that keeps owners; that run unpacks its own
beside it, from the cache, and ls and prune see both. Synthetic images, no registry."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

import hitless.images.store as store_module
from hitless.images import ImageStore, PullOptions
from hitless.images.errors import RegistryUnavailable
from hitless.images.owners import Owners, current, of_maps
from tests.images.builders import Entry, layer_tar, write_oci_layout

NAME = "docker.io/library/owned:1"
# A mirror nobody listens on: a pull that went past the cache would fail here, on loopback.
NOWHERE = PullOptions.parse_mirrors(["docker.io=http://127.0.0.1:9"])


def test_variants_of_id_maps() -> None:
    assert of_maps(((0, 0, 4294967295),), ((0, 0, 4294967295),)) == Owners("root")
    single = of_maps(((0, 1000, 1),), ((0, 1001, 1),))
    assert (single.kind, single.variant) == ("flattened", "flat-1000-1001")
    # A normal user's unpack (unshare --map-root-user) and a single-id engine write the same tree.
    assert current(rootless=True).variant == f"flat-{os.geteuid()}-{os.getegid()}"
    ranged = of_maps(((0, 1000, 1), (1, 100000, 65536)), ((0, 1000, 1), (1, 100000, 65536)))
    other = of_maps(((0, 1000, 1), (1, 200000, 65536)), ((0, 1000, 1), (1, 200000, 65536)))
    assert ranged.kind == "mapped" and ranged.variant.startswith("map-") and ranged.variant != other.variant
    assert ranged.record() == {
        "owners": "mapped",
        "uidMap": [[0, 1000, 1], [1, 100000, 65536]],
        "gidMap": [[0, 1000, 1], [1, 100000, 65536]],
    }


@pytest.mark.skipif(os.geteuid() != 0, reason="keeping an image's owners needs root")
async def test_a_flattened_tree_is_not_taken_by_a_run_that_keeps_owners(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "layout"
    layer = layer_tar([
        Entry("srv", "dir", mode=0o755),
        Entry("srv/www", "dir", mode=0o750, uid=33, gid=44),
        Entry("srv/www/index.html", data=b"hi", uid=33, gid=44),
    ])  # fmt: skip
    manifest = write_oci_layout(archive, NAME, [layer])
    cache = tmp_path / "cache"
    # `hitless images pull` by a normal user: every owner flattened (to root's own id here).
    user = ImageStore(cache, PullOptions(archives=(archive,)), owners=current(rootless=True))
    flat = await user.pull(NAME)
    assert flat.rootfs.name.endswith(".flat-0-0")
    flat_www = (flat.rootfs / "srv/www").lstat()
    assert (flat_www.st_uid, flat_www.st_gid) == (0, 0)
    record = json.loads(flat.rootfs.with_name(flat.rootfs.name + ".json").read_text())
    assert record == {"owners": "flattened", "uid": 0, "gid": 0}

    # A run as root (no archive, a dead mirror): the flattened tree is not present for it...
    run = ImageStore(cache, PullOptions(mirrors=NOWHERE, timeout=2), lease=True, owners=Owners("root"))
    assert run.get(NAME) is None
    # (`hitless check` only reads the image's files: any tree will do.)
    assert run.get(NAME, any_owners=True) == flat
    # ...but the content is: the kubelet's pods (five at once) get one tree of their own, unpacked
    # from the cache beside the other.
    unpacks = 0
    real_unpack = store_module.unpack

    async def counting_unpack(*args: Any, **kwargs: Any) -> Path:
        nonlocal unpacks
        unpacks += 1
        return await real_unpack(*args, **kwargs)

    monkeypatch.setattr(store_module, "unpack", counting_unpack)
    found = await asyncio.gather(*(run.unpack_present(NAME) for _ in range(5)))
    kept = found[0]
    assert kept is not None and all(f == kept for f in found) and unpacks == 1
    assert kept.rootfs.name == f"{manifest.partition(':')[2]}.root"
    www = (kept.rootfs / "srv/www/index.html").lstat()
    assert (www.st_uid, www.st_gid) == (33, 44)
    assert (flat.rootfs / "srv/www").lstat().st_ino == flat_www.st_ino  # not rewritten
    assert run.get(NAME) == kept and user.get(NAME) == flat
    # A pull goes to the source, whatever the cache holds (Always re-resolves the tag).
    with pytest.raises(RegistryUnavailable):
        await ImageStore(cache, run.options, owners=Owners("root")).pull(NAME)
    assert unpacks == 1

    rows = ImageStore(cache).list_images()
    assert len(rows) == 1 and set(rows[0].trees) == {"flat-0-0", "root"}
    content = flat.size
    assert rows[0].size == content + sum(rows[0].trees.values()) and all(rows[0].trees.values())

    pruned = ImageStore(cache).prune(all_images=True)
    assert (pruned.in_use, pruned.trees) == ([NAME], 0)
    assert flat.rootfs.is_dir() and kept.rootfs.is_dir()  # the lease keeps every variant
    assert run._lease is not None
    run._lease.release()
    # A tree from before variants: owners unknown, taken by no run, pruned while its image stays.
    legacy = cache / "rootfs" / manifest.partition(":")[2]
    legacy.mkdir()
    pruned = ImageStore(cache).prune({"other:1"})
    assert (pruned.references, pruned.trees) == ([], 1) and not legacy.exists() and kept.rootfs.is_dir()
    pruned = ImageStore(cache).prune(all_images=True)
    assert pruned.references == [NAME] and pruned.trees == 2
    assert os.listdir(cache / "rootfs") == []  # the records went with their trees
