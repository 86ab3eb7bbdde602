"""Image rules: a tag that moves (latest), and exec handlers the cached image cannot run."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from hitless.images import ImageStore, PullOptions, default_root
from tests.check.helpers import check_yaml, good, of
from tests.images.builders import Entry, layer_tar, write_oci_layout


@pytest.mark.parametrize(
    ("image", "reported"),
    [
        ("nginx", True),
        ("nginx:latest", True),
        ("registry.example.com:5000/team/web", True),
        ("nginx:1.27", False),
        ("registry.example.com:5000/team/web:1.0", False),
        ("nginx@sha256:" + "ab" * 32, False),
    ],
)
def test_latest_or_no_tag(image: str, reported: bool) -> None:
    found = of(check_yaml(good().replace("image: hitless:0.1.0", f"image: {image}")), "image-latest-tag")
    assert bool(found) == reported
    if found:
        assert found[0].field == "spec.template.spec.containers[0].image"
        assert "imagePullPolicy defaults to Always" in found[0].message


@pytest.mark.skipif(os.geteuid() != 0, reason="unpacking an image into the cache needs root here")
def test_exec_binary_the_cached_image_lacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    layout = tmp_path / "layout"
    layer = layer_tar(
        [
            Entry("bin/", kind="dir", mode=0o755),
            Entry("bin/busybox", data=b"\x7fELF", mode=0o755),
            Entry("bin/sh", kind="symlink", target="/bin/busybox"),  # absolute: resolved in the image
        ]
    )
    write_oci_layout(layout, "registry.example.com/app:1", [layer], config={"Env": ["PATH=/bin"]})
    asyncio.run(
        ImageStore(default_root(), PullOptions(archives=(layout,))).pull("registry.example.com/app:1")
    )
    probes = "readinessProbe: {exec: {command: [sh, -c, 'true']}, periodSeconds: 1}"
    yaml = good(probes=probes, lifecycle="lifecycle: {preStop: {exec: {command: [sleep, '5']}}}")
    found = of(
        check_yaml(yaml.replace("image: hitless:0.1.0", "image: registry.example.com/app:1")),
        "exec-binary-not-in-image",
    )
    assert [(f.field, f.severity.value) for f in found] == [
        ("spec.template.spec.containers[0].lifecycle.preStop.exec.command", "error")
    ]
    assert "runs 'sleep', which the image 'registry.example.com/app:1'" in found[0].message
    # An image not in the cache is not judged (nothing is pulled).
    assert not of(
        check_yaml(yaml.replace("image: hitless:0.1.0", "image: other.example.com/app:1")),
        "exec-binary-not-in-image",
    )
