"""``hitless images ls|pull|prune``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hitless.cli.main import main
from tests.images.conftest import Built
from tests.images.oci import Registry


def test_pull_ls_prune(
    tmp_path: Path, registry: Registry, built: Built, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = [
        "--image-cache",
        str(tmp_path / "cache"),
        "--registry-mirror",
        f"docker.io=http://{registry.host}",
    ]
    assert main(["images", "pull", "busybox:1.36", *flags]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Pulled docker.io/library/busybox:1.36 (docker.io/library/busybox@sha256:")
    assert main(["images", "pull", "busybox:nope", "Bad", *flags]) == 1
    err = capsys.readouterr().err
    assert "busybox:nope: ErrImagePull: failed to pull and unpack image" in err
    assert 'Bad: InvalidImageName: couldn\'t parse image name "Bad"' in err
    assert main(["images", "ls", "-o", "json", *flags]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["reference"] for r in rows] == ["docker.io/library/busybox:1.36"] and rows[0]["unpacked"]
    assert main(["images", "ls", *flags]) == 0
    assert "docker.io/library/busybox:1.36" in capsys.readouterr().out
    assert main(["images", "prune", "busybox:1.36", *flags]) == 0
    assert "Untagged: docker.io/library/busybox:1.36" in capsys.readouterr().out
    assert main(["images", "ls", "-o", "json", *flags]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_pull_another_platform(
    tmp_path: Path, registry: Registry, built: Built, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ["--image-cache", str(tmp_path / "cache")]
    assert main(["images", "pull", f"{registry.host}/test/multi:1", "--platform", "linux/arm64", *flags]) == 0
    root = Path(capsys.readouterr().out.split("Root: ")[1].strip())
    assert (root / "ARM64").read_text() == "arm64\n"


def test_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["images", "pull", "x", "--registry-mirror", "nonsense"])
    assert exit_.value.code == 2
