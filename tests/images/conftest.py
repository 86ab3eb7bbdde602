"""Session fixtures: loopback registries (plain, htpasswd, token) and the test images, built once.

Images (all pushed to the plain registry unless said otherwise):
- ``library/busybox:1.36``: busybox-static with httpd, built with umoci (so ``busybox:1.36``
  resolves through the mirror ``docker.io=http://<registry>``);
- ``test/layered:1``: busybox plus a umoci layer (deletions -> whiteouts, a hard link, an absolute
  symlink, owners, setuid, a dir replaced by a file) plus a hand-made layer with an opaque dir;
- ``test/multi:1``: a two-platform index (amd64 = busybox, arm64 = a marker image);
- ``test/zstd:1``: busybox with a zstd layer;
- ``test/escape:1`` and ``test/symlink-escape:1``: hand-made layers that try to leave the root;
- ``test/corrupt:1``: an image whose layer the registry serves corrupted;
- archives: ``docker save`` format (``example.com/team/bb:dev``) and OCI (``example.com/team/bb:oci``).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.images.oci import (
    Entry,
    Registry,
    TokenServer,
    add_index,
    htpasswd_line,
    layer_tar,
    missing_tools,
    run,
    umoci_busybox,
    write_oci_layout,
)

USER, PASSWORD = "alice", "s3cret"


def _needs_tools() -> None:
    missing = missing_tools()
    if missing:
        pytest.skip(
            f"image tests need {', '.join(missing)} "
            "(apt-get install docker-registry skopeo umoci busybox-static)"
        )


@pytest.fixture(scope="session")
def images_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("images")


@pytest.fixture(scope="session")
def registry(images_tmp: Path) -> Iterator[Registry]:
    _needs_tools()
    reg = Registry(images_tmp / "registry").start()
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def basic_registry(images_tmp: Path) -> Iterator[Registry]:
    _needs_tools()
    root = images_tmp / "basic-registry"
    root.mkdir()
    (root / "htpasswd").write_text(htpasswd_line(USER, PASSWORD) + "\n")
    reg = Registry(root, auth={"htpasswd": {"realm": "hitless-test", "path": str(root / "htpasswd")}})
    reg.creds = (USER, PASSWORD)
    reg.start()
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def token_server(images_tmp: Path) -> Iterator[TokenServer]:
    if shutil.which("openssl") is None:
        pytest.skip("the token server needs openssl")
    server = TokenServer(images_tmp / "token", {USER: PASSWORD}).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def token_registry(images_tmp: Path, token_server: TokenServer) -> Iterator[Registry]:
    _needs_tools()
    reg = Registry(images_tmp / "token-registry", auth=token_server.registry_auth())
    reg.creds = (USER, PASSWORD)
    reg.start()
    yield reg
    reg.stop()


@dataclass(frozen=True)
class Built:
    layout: Path  # the umoci/hand-made OCI layout every image was built in
    docker_archive: Path
    oci_archive: Path
    corrupt_layer: str  # digest of the layer the registry serves corrupted


def _layered(layout: Path) -> None:
    """busybox + a umoci diff layer + a hand-made layer with an opaque directory."""
    run("umoci", "tag", "--image", f"{layout}:busybox", "layered")
    bundle = layout.parent / "bundle-layered"
    run("umoci", "unpack", "--image", f"{layout}:layered", bundle)
    rootfs = bundle / "rootfs"
    for d in ("data/sub", "opq/deep", "gone", "etc/alternatives", "private", "replaced"):
        (rootfs / d).mkdir(parents=True, exist_ok=True)
    (rootfs / "data/keep").write_text("keep\n")
    (rootfs / "data/drop").write_text("drop\n")
    (rootfs / "data/sub/old").write_text("old\n")
    (rootfs / "opq/lower").write_text("lower\n")
    (rootfs / "opq/deep/lower2").write_text("lower2\n")
    (rootfs / "gone/file").write_text("x\n")
    (rootfs / "replaced/inside").write_text("x\n")
    (rootfs / "private").chmod(0o700)
    (rootfs / "etc/alternatives/sh").symlink_to("/bin/busybox")  # absolute symlink
    (rootfs / "bin/hardsh").hardlink_to(rootfs / "bin/busybox")
    (rootfs / "owned").write_text("owned\n")
    shutil.chown(rootfs / "owned", 1000, 1000)
    (rootfs / "suid").write_text("#!/bin/sh\n")
    (rootfs / "suid").chmod(0o4755)
    run("umoci", "repack", "--image", f"{layout}:layered", bundle)
    shutil.rmtree(bundle)
    # A second umoci layer: deletions become .wh. whiteouts; a directory becomes a file.
    run("umoci", "unpack", "--image", f"{layout}:layered", bundle)
    (rootfs / "data/drop").unlink()
    shutil.rmtree(rootfs / "gone")
    shutil.rmtree(rootfs / "replaced")
    (rootfs / "replaced").write_text("now a file\n")
    (rootfs / "data/new").hardlink_to(rootfs / "data/keep")
    run("umoci", "repack", "--image", f"{layout}:layered", bundle)
    shutil.rmtree(bundle)
    # A hand-made layer: opaque /opq (hides lower, keeps its own new entries), a whiteout of a
    # file of a lower layer inside a directory this layer also writes to.
    opaque = layer_tar(
        [
            Entry("opq/", kind="dir", mode=0o755),
            Entry("opq/.wh..wh..opq"),
            Entry("opq/mine", data=b"mine\n"),
            Entry("data/sub/.wh.old"),
            Entry("data/sub/fresh", data=b"fresh\n", uid=33, gid=33, mode=0o640),
            Entry("dev/null", kind="char", mode=0o666),
        ]
    )
    path = layout.parent / "opaque.tar"
    path.write_bytes(opaque)
    run("umoci", "raw", "add-layer", "--image", f"{layout}:layered", path)


@pytest.fixture(scope="session")
def built(images_tmp: Path, registry: Registry) -> Built:
    layout = images_tmp / "layout"
    umoci_busybox(layout, "busybox")
    registry.push(f"oci:{layout}:busybox", "library/busybox:1.36")

    _layered(layout)
    registry.push(f"oci:{layout}:layered", "test/layered:1")

    # A two-platform index: amd64 is busybox; arm64 a marker image the host must not get.
    write_oci_layout(
        layout, "arm64-marker", [layer_tar([Entry("ARM64", data=b"arm64\n")])], architecture="arm64"
    )
    add_index(layout, "multi", {"amd64": "busybox", "arm64": "arm64-marker"})
    registry.push(f"oci:{layout}:multi", "test/multi:1", "--all")

    zstd_layout = images_tmp / "zstd-layout"
    run("skopeo", "copy", "-q", "--dest-compress", "--dest-compress-format", "zstd",
        f"oci:{layout}:busybox", f"oci:{zstd_layout}:busybox")  # fmt: skip
    registry.push(f"oci:{zstd_layout}:busybox", "test/zstd:1")

    escape = images_tmp / "escape-layout"
    write_oci_layout(
        escape, "dotdot", [layer_tar([Entry("ok", data=b"ok\n"), Entry("../../escaped", data=b"x")])]
    )
    registry.push(f"oci:{escape}:dotdot", "test/escape:1")
    write_oci_layout(
        escape,
        "symlink",
        [
            layer_tar([Entry("evil", kind="symlink", target=str(images_tmp / "outside"))]),
            layer_tar(
                [Entry("evil/pwned", data=b"pwned\n"), Entry("up", kind="symlink", target="../../../..")]
            ),
            layer_tar([Entry("up/tmp/pwned2", data=b"pwned\n")]),
        ],
    )
    registry.push(f"oci:{escape}:symlink", "test/symlink-escape:1")
    (images_tmp / "outside").mkdir()

    corrupt_raw = layer_tar([Entry("corrupt-me", data=b"unique to the corrupt test image\n")])
    write_oci_layout(escape, "corrupt", [corrupt_raw])
    registry.push(f"oci:{escape}:corrupt", "test/corrupt:1")
    index = json.loads((escape / "index.json").read_text())
    desc = next(
        m for m in index["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == "corrupt"
    )
    body = json.loads((escape / "blobs/sha256" / desc["digest"].split(":")[1]).read_text())
    corrupt_layer = body["layers"][0]["digest"]
    data = registry.blob_data(corrupt_layer)
    data.write_bytes(b"\x1f\x8b" + b"\0" * (data.stat().st_size - 2))  # same size, wrong bytes

    docker_archive = images_tmp / "bb-docker.tar"
    oci_archive = images_tmp / "bb-oci.tar"
    run(
        "skopeo",
        "copy",
        "-q",
        f"oci:{layout}:busybox",
        f"docker-archive:{docker_archive}:example.com/team/bb:dev",
    )
    run("skopeo", "copy", "-q", f"oci:{layout}:busybox", f"oci-archive:{oci_archive}:example.com/team/bb:oci")
    return Built(
        layout=layout, docker_archive=docker_archive, oci_archive=oci_archive, corrupt_layer=corrupt_layer
    )
