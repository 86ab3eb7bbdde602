"""The image flags are the same on ``hitless up`` and ``hitless verify``, and say what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from hitless.cli import up, verify
from hitless.cli.imageflags import image_service
from hitless.kubelet.images import ImageConfigError

FLAGS = [
    "--image", "team/api=api-server --port 8080",
    "--registry-mirror", "docker.io=http://127.0.0.1:5000",
    "--registry-mirror", "ghcr.io=127.0.0.1:5001",
    "--insecure-registry", "registry.lan:5000",
    "--image-source", "podman",
]  # fmt: skip


@pytest.mark.parametrize("parser", [up.build_parser, verify.build_parser])
def test_both_commands_take_the_image_flags(parser: object, tmp_path: Path) -> None:
    args = parser().parse_args(["x.yaml", *FLAGS, "--image-cache", str(tmp_path)])  # type: ignore[operator]
    images = image_service(args)
    assert images.resolve("team/api:v2") is not None and images.resolve("nginx:1.27") is None
    store = images.store
    assert store is not None
    options = store.options  # type: ignore[attr-defined]
    assert options.mirrors == {
        "docker.io": ("http://127.0.0.1:5000",),
        "ghcr.io": ("https://127.0.0.1:5001",),
    }
    assert options.insecure_registries == frozenset({"registry.lan:5000"})
    assert options.source == "podman"
    assert store.root == tmp_path  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--registry-mirror", "docker.io"], "--registry-mirror 'docker.io': expected HOST=URL"),
        (["--image-archive", "/no/such.tar"], "--image-archive /no/such.tar: no such file or directory"),
        (["--image", "nginx"], "--image 'nginx': expected NAME=COMMAND"),
    ],
)
def test_wrong_flags_are_named(flags: list[str], message: str) -> None:
    args = up.build_parser().parse_args(["x.yaml", *flags])
    with pytest.raises(ImageConfigError) as err:
        image_service(args)
    assert str(err.value).startswith(message)
