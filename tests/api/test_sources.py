"""Inputs that cannot be read are errors naming the path, bounded in size, never an exception."""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import pytest

from hitless.api import load
from hitless.api.sources import MAX_INPUT_BYTES, read_paths
from hitless.cli.main import main

LIMIT = f"Request entity too large: limit is {MAX_INPUT_BYTES}"


def messages(paths: list[str], stdin: io.TextIOBase | None = None) -> list[str]:
    return [e.format() for e in load(paths, stdin=stdin).errors]  # type: ignore[arg-type]


def test_dev_zero_and_a_10_mb_file_stop_at_the_api_servers_request_limit(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"a" * 10_000_000)
    assert LIMIT in messages(["/dev/zero"])[0]
    assert LIMIT in messages([str(big)])[0]


def test_an_endless_fifo_stops_at_the_limit(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    def writer() -> None:
        try:
            with open(fifo, "wb") as f:
                while True:
                    f.write(b"a: b\n" * 4096)
        except BrokenPipeError:
            pass  # the reader stopped at the limit and closed its end

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    assert LIMIT in messages([str(fifo)])[0]
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_paths_that_cannot_be_opened_say_why(tmp_path: Path) -> None:
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "sub.yaml").mkdir()
    assert messages([str(loop)]) == [f"{loop}: open {loop}: too many levels of symbolic links"]
    assert messages(["x" * 300]) == [f"{'x' * 300}: open {'x' * 300}: file name too long"]
    assert messages(["a\x00b"]) == ["a\x00b: open a\x00b: invalid argument"]
    assert messages([str(tmp_path / "dir")]) == [
        f"{tmp_path}/dir/sub.yaml: open {tmp_path}/dir/sub.yaml: is a directory"
    ]
    assert messages(["/nowhere"]) == ['/nowhere: the path "/nowhere" does not exist']


def test_invalid_utf8_on_stdin_is_read_as_in_a_file() -> None:
    stdin = io.TextIOWrapper(io.BytesIO(b"apiVersion: v1\nkind: Pod\nmetadata: {name: \xff}\n"))
    assert messages(["-"], stdin) == [
        "STDIN:3: error converting YAML to JSON: yaml: invalid leading UTF-8 octet"
    ]


def test_stdin_is_bounded_too() -> None:
    stdin = io.TextIOWrapper(io.BytesIO(b"#" * (MAX_INPUT_BYTES + 1)))
    assert LIMIT in messages(["-"], stdin)[0]
    assert [s.name for s in read_paths(["-"], io.StringIO("a: b"))] == ["STDIN"]


def test_hitless_check_exits_2_on_an_unreadable_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "/dev/zero"]) == 2
    assert LIMIT in capsys.readouterr().err


def test_a_pipe_given_as_a_file_is_read_once_not_watched(tmp_path: Path) -> None:
    from hitless.cli.reapply import snapshot

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    manifest = tmp_path / "m.yaml"
    manifest.write_text("a: b\n")
    assert list(snapshot([str(fifo), str(manifest), "a\x00b"])) == [str(manifest), "a\x00b"]


def test_a_closed_stdin_is_an_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", None)  # what Python sets when started with <&-
    assert messages(["-"]) == ["STDIN: read STDIN: bad file descriptor"]
