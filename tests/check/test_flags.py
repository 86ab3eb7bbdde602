"""Every flag value `up`, `verify` and `check` cannot use is a usage error (exit 2) naming it,
found before anything is loaded or started."""

from __future__ import annotations

from pathlib import Path

import pytest

from hitless.cli.main import main
from hitless.kubelet.images import ImageConfigError, ImageService

EXAMPLE = str(Path(__file__).parent.parent.parent / "examples" / "web.yaml")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["up", EXAMPLE, "--duration", "nan"], "argument --duration: 'nan' is not a finite number"),
        (["up", EXAMPLE, "--duration", "-1"], "argument --duration: must be more than 0 seconds (got -1)"),
        (["up", EXAMPLE, "--nodes", "5000"], "argument --nodes: must be 1 to 254 (got 5000)"),
        (["check", EXAMPLE, "--propagation-delay", "nan"], "argument --propagation-delay: 'nan' is not"),
        (["check", EXAMPLE, "--propagation-delay", "inf"], "argument --propagation-delay: 'inf' is not"),
        (["check", EXAMPLE, "--nodes", "5000"], "argument --nodes: must be 1 to 254 (got 5000)"),
        (["check", EXAMPLE, "--nodes", "x"], "argument --nodes: 'x' is not a whole number"),
    ],
)
def test_bad_flag_values_are_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rps", "20000"], "--rps must be at most 5000 (got 20000)"),
        (["--rps", "nan"], "--rps must be a finite number greater than 0 (got nan)"),
        (["--propagation-delay", "nan"], "--propagation-delay must be 0 or more (got nan)"),
        (["--timeout", "inf"], "--timeout must be a finite number greater than 0 (got inf)"),
        (["--nodes", "5000"], "--nodes must be at most 254 (got 5000)"),
    ],
)
def test_verify_names_each_bad_flag_value_before_loading(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # verify reports every bad value at once, in its own words (tests/verify/test_cli.py).
    assert main(["verify", "/nowhere.yaml", *argv]) == 2
    assert message in capsys.readouterr().err


def test_a_report_dir_that_cannot_be_written_is_refused(tmp_path: Path) -> None:
    from hitless.cli.flags import writable_dir_error

    file = tmp_path / "file"
    file.write_text("")
    assert writable_dir_error("--report", str(file / "x")) == f"--report {file / 'x'}: Not a directory"
    assert writable_dir_error("--report", "a\x00b") == "--report 'a\\x00b': a path cannot hold a NUL byte"
    assert writable_dir_error("--report", str(tmp_path / "new")) is None


def test_a_log_dir_that_is_a_file_is_refused_before_loading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "file"
    file.write_text("")
    assert main(["up", EXAMPLE, "--log-dir", str(file)]) == 2
    assert f"--log-dir {file}: Not a directory" in capsys.readouterr().err
    assert main(["up", EXAMPLE, "--log-dir", str(file / "sub")]) == 2
    assert f"--log-dir {file / 'sub'}: Not a directory" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("=x", "expected NAME=COMMAND"),
        ("a=", "expected NAME=COMMAND"),
        ("a='unclosed", "COMMAND: No closing quotation"),
        ("a b=c", "is not an image name"),
        ("a=sleep '1\x00'", "contains a NUL byte"),
    ],
)
def test_a_malformed_image_flag_names_what_is_wrong(flag: str, message: str) -> None:
    with pytest.raises(ImageConfigError, match=message):
        ImageService().add_flag(flag)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\x01\xff", ":1: error converting YAML to JSON: yaml:"),
        (b"images: [a, b]\n", "expected one document, a mapping with an 'images' mapping"),
        (b'images:\n  web: {command: "sh -c \'x"}\n', "images.web.command: No closing quotation"),
        (b"images:\n  web: {env: {A: [1]}}\n", "images.web.env: expected a mapping of names to strings"),
        (b"a: &a [*a]\n", "anchor 'a' value contains itself"),
    ],
)
def test_a_binary_or_malformed_images_file_names_what_is_wrong(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "images.yaml"
    path.write_bytes(content)
    with pytest.raises(ImageConfigError, match=message.replace("[", "\\[").replace("'", ".")):
        ImageService().load_file(path)
    with pytest.raises(ImageConfigError, match="Request entity too large"):
        ImageService().load_file("/dev/zero")
