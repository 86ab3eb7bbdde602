"""Images from archives (docker save, OCI archive, OCI layout dir) and from a local Podman store."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hitless.images import ImagePullError, ImageStore, PullOptions
from tests.images.conftest import Built
from tests.images.oci import Registry, run, tree


async def test_docker_save_archive(tmp_path: Path, built: Built) -> None:
    store = ImageStore(tmp_path / "cache", PullOptions(archives=(built.docker_archive,)))
    assert store.get("example.com/team/bb:dev") is None  # not loaded until asked
    image = await store.pull("example.com/team/bb:dev")
    assert image.reference == "example.com/team/bb:dev"
    # docker load records no registry digest; the kubelet's imageID is then the image id.
    assert image.digest is None and image.repo_digest == image.id
    assert image.config.entrypoint == ["/bin/httpd"]
    assert store.get("example.com/team/bb:dev") == image
    # The config blob is the same whatever the archive format: the same image id.
    oci = await ImageStore(tmp_path / "cache", PullOptions(archives=(built.oci_archive,))).pull(
        "example.com/team/bb:oci"
    )
    assert oci.id == image.id
    assert oci.digest is not None and oci.digest.startswith("sha256:")
    assert tree(oci.rootfs) == tree(image.rootfs)


async def test_oci_layout_directory_and_load_archives(tmp_path: Path, built: Built) -> None:
    layout = tmp_path / "dir-layout"
    run("skopeo", "copy", "-q", f"oci:{built.layout}:busybox", f"oci:{layout}:example.com/team/bb:dir")
    store = ImageStore(tmp_path / "cache", PullOptions(archives=(layout, built.docker_archive)))
    loaded = await store.load_archives()
    assert sorted(i.reference for i in loaded) == ["example.com/team/bb:dev", "example.com/team/bb:dir"]
    # Loaded images are present (IfNotPresent, Never) without another look at the archives.
    present = store.get("example.com/team/bb:dir")
    assert present is not None and (present.rootfs / "bin/busybox").exists()


async def test_archive_errors(tmp_path: Path, built: Built) -> None:
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a tar")
    store = ImageStore(tmp_path / "cache", PullOptions(archives=(junk,)))
    with pytest.raises(ImagePullError, match=r"junk\.tar") as err:
        await store.pull("example.com/team/bb:dev")
    assert err.value.cause == "invalid archive"
    # A reference no archive carries goes on to the registry (here: none listening).
    store = ImageStore(tmp_path / "cache", PullOptions(archives=(built.docker_archive,), timeout=2))
    with pytest.raises(ImagePullError, match="RegistryUnavailable"):
        await store.pull("127.0.0.1:9/team/none:1")


@pytest.fixture(scope="module")
def podman_store(
    tmp_path_factory: pytest.TempPathFactory, registry: Registry, built: Built
) -> Iterator[tuple[str, ...]]:
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed")
    root = tmp_path_factory.mktemp("podman")
    # podman refuses a runroot longer than 50 characters, which the temporary directory of a
    # pytest-xdist worker (…/popen-gw1/podman0/run) can be.
    runroot = tempfile.mkdtemp(prefix="podman-run-")
    command = (
        "podman",
        "--root",
        str(root / "root"),
        "--runroot",
        runroot,
        "--storage-driver",
        "vfs",
    )
    try:
        run(*command, "pull", "-q", "--tls-verify=false", f"docker://{registry.host}/library/busybox:1.36")
        run(*command, "tag", f"{registry.host}/library/busybox:1.36", "localhost/api:dev")
        yield command
    finally:
        shutil.rmtree(runroot, ignore_errors=True)


async def test_local_podman_store(tmp_path: Path, podman_store: tuple[str, ...], built: Built) -> None:
    options = PullOptions(source="podman", source_command=podman_store, timeout=30)
    store = ImageStore(tmp_path / "cache", options)
    # Built locally, never pushed: the local store has it, no registry is asked.
    image = await store.pull("localhost/api:dev")
    assert image.reference == "localhost/api:dev"
    inspect = json.loads(run(*podman_store, "image", "inspect", "localhost/api:dev"))[0]
    assert image.id == "sha256:" + inspect["Id"]
    assert (image.rootfs / "bin/busybox").exists()
    # Not in the local store: the registry is next (none on localhost:80 here).
    with pytest.raises(ImagePullError, match="RegistryUnavailable"):
        await store.pull("localhost/api:absent")


async def test_multi_platform_oci_archive(tmp_path: Path, built: Built) -> None:
    archive = tmp_path / "multi.tar"
    run(
        "skopeo",
        "copy",
        "-q",
        "--all",
        f"oci:{built.layout}:multi",
        f"oci-archive:{archive}:example.com/team/multi:1",
    )
    store = ImageStore(tmp_path / "cache", PullOptions(archives=(archive,)))
    image = await store.pull("example.com/team/multi:1")
    assert (image.rootfs / "bin/busybox").exists() and not (image.rootfs / "ARM64").exists()
    assert image.digest != image.manifest_digest  # the index's digest names it


async def test_docker_25_save_prefers_its_oci_index(tmp_path: Path, built: Built) -> None:
    """Docker >= 25 writes index.json (names in io.containerd.image.name, a bare tag in
    ref.name) beside manifest.json: the OCI side is read."""
    layout = tmp_path / "d25"
    run("skopeo", "copy", "-q", f"oci:{built.layout}:busybox", f"oci:{layout}:25")
    index = json.loads((layout / "index.json").read_text())
    desc = index["manifests"][0]
    desc["annotations"]["io.containerd.image.name"] = "example.com/team/bb:d25"
    (layout / "index.json").write_text(json.dumps(index))
    manifest = json.loads((layout / "blobs/sha256" / desc["digest"].split(":")[1]).read_text())
    (layout / "manifest.json").write_text(
        json.dumps(
            [
                {
                    "Config": "blobs/sha256/" + manifest["config"]["digest"].split(":")[1],
                    "RepoTags": ["example.com/team/bb:d25"],
                    "Layers": [
                        "blobs/sha256/" + layer["digest"].split(":")[1] for layer in manifest["layers"]
                    ],
                }
            ]
        )
    )
    archive = tmp_path / "d25.tar"
    run("tar", "-C", layout, "-cf", archive, ".")
    image = await ImageStore(tmp_path / "cache", PullOptions(archives=(archive,))).pull(
        "example.com/team/bb:d25"
    )
    assert image.digest == desc["digest"]  # read through index.json, not manifest.json
    assert (image.rootfs / "bin/busybox").exists()
