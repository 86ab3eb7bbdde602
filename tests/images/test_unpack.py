"""The unpacked tree against umoci's, and layers that try to leave the root."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from hitless.images import ImagePullError, ImageStore, PullOptions
from hitless.images.flatten import unpack
from tests.images.conftest import Built
from tests.images.oci import Registry, run, tree


def _on_host(path: str) -> bool:
    return os.path.exists(path)


def _umoci_tree(layout: Path, tag: str, dest: Path) -> dict[str, tuple[object, ...]]:
    run("umoci", "unpack", "--image", f"{layout}:{tag}", dest)
    return tree(dest / "rootfs")


async def test_layered_tree_equals_umoci_unpack(tmp_path: Path, registry: Registry, built: Built) -> None:
    store = ImageStore(tmp_path / "cache", PullOptions())
    image = await store.pull(f"{registry.host}/test/layered:1")
    ours = tree(image.rootfs)
    theirs = _umoci_tree(built.layout, "layered", tmp_path / "umoci")
    # umoci (as root) makes device nodes; a rootless runtime cannot, and a container gets its
    # /dev from the runtime: we skip them.
    assert stat.S_ISCHR((tmp_path / "umoci/rootfs/dev/null").lstat().st_mode)
    del theirs["/dev/null"]
    assert ours == theirs
    # What the comparison covers, spelled out.
    root = image.rootfs
    assert not (root / "data/drop").exists() and (root / "data/keep").exists()  # .wh. whiteout
    assert not (root / "gone").exists()
    assert (root / "replaced").read_text() == "now a file\n"  # a directory replaced by a file
    assert sorted(p.name for p in (root / "opq").iterdir()) == ["mine"]  # opaque dir, own entry kept
    assert sorted(p.name for p in (root / "data/sub").iterdir()) == ["fresh"]
    assert (root / "data/sub/fresh").stat().st_uid == 33
    assert (root / "etc/alternatives/sh").readlink() == Path("/bin/busybox")  # absolute, kept
    assert (root / "bin/hardsh").stat().st_ino == (root / "bin/busybox").stat().st_ino
    assert (root / "data/new").stat().st_ino == (root / "data/keep").stat().st_ino
    assert (root / "owned").stat().st_uid == 1000
    assert stat.S_IMODE((root / "suid").stat().st_mode) == 0o4755
    assert stat.S_IMODE((root / "private").stat().st_mode) == 0o700
    assert not (root / "dev/null").exists()


async def test_dotdot_escape_is_refused(tmp_path: Path, registry: Registry, built: Built) -> None:
    store = ImageStore(tmp_path / "cache", PullOptions())
    with pytest.raises(ImagePullError) as err:
        await store.pull(f"{registry.host}/test/escape:1")
    assert err.value.cause == "invalid layer"
    assert "'../../escaped' points outside the image root" in str(err.value)
    assert not (tmp_path / "escaped").exists() and not (tmp_path.parent / "escaped").exists()
    # Nothing half-written: no tree, no temp, no name.
    assert list(store.layout.rootfs_dir.iterdir()) == []
    assert list(store.layout.tmp.iterdir()) == []
    assert store.get(f"{registry.host}/test/escape:1") is None


async def test_symlinks_cannot_lead_outside(
    tmp_path: Path, images_tmp: Path, registry: Registry, built: Built
) -> None:
    # Layer 1: evil -> <host dir>; layer 2 writes evil/pwned and up -> ../../../..; layer 3
    # writes up/tmp/pwned2. Unpacked chrooted, both land inside the tree, never on the host.
    store = ImageStore(tmp_path / "cache", PullOptions())
    image = await store.pull(f"{registry.host}/test/symlink-escape:1")
    outside = images_tmp / "outside"
    assert list(outside.iterdir()) == []
    assert not _on_host("/tmp/pwned2")
    assert (image.rootfs / str(outside).lstrip("/") / "pwned").read_text() == "pwned\n"
    assert (image.rootfs / "tmp/pwned2").read_text() == "pwned\n"
    assert (image.rootfs / "evil").is_symlink()


async def test_rootless_unpack_flattens_ownership(tmp_path: Path, registry: Registry, built: Built) -> None:
    """As a normal user the child unpacks in a user namespace with only the user's id mapped
    (here root's own, as `unshare --map-root-user` maps it): other owners cannot be set and the
    tree belongs to the user, as `umoci unpack --rootless` makes it."""
    store = ImageStore(tmp_path / "cache", PullOptions())
    image = await store.pull(f"{registry.host}/test/layered:1")
    manifest = store.layout.read_json(image.manifest_digest)
    temp = await unpack(store.layout, [layer["digest"] for layer in manifest["layers"]], rootless=True)
    try:
        rootful = tree(image.rootfs)
        rootless = tree(temp)
        assert rootless.keys() == rootful.keys()
        assert {entry[2:4] for entry in rootless.values()} == {(0, 0)}
        assert rootful["/owned"][2:4] == (1000, 1000) and rootful["/data/sub/fresh"][2:4] == (33, 33)
        strip = {k: (v[0], v[1], v[4], v[5], v[6]) for k, v in rootful.items()}
        assert {k: (v[0], v[1], v[4], v[5], v[6]) for k, v in rootless.items()} == strip
    finally:
        store.layout.remove_tree(temp)
