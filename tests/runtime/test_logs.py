"""Container logs in the CRI format, one file per attempt."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from hitless.runtime.cri import PodSandboxConfig
from hitless.runtime.linux import LinuxRuntime, read_cri_log
from hitless.runtime.linux.logs import CriLogWriter, parse_cri_line

from .helpers import PYTHON, container, run

LINE = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) [FP] .*$")


def writer(tmp_path: Path, max_line: int = 16384) -> CriLogWriter:
    when = datetime(2026, 11, 25, 18, 13, 10, 123456, tzinfo=UTC)
    return CriLogWriter(tmp_path / "c" / "0.log", lambda: when, max_line=max_line)


def test_format_of_full_and_partial_lines(tmp_path: Path) -> None:
    w = writer(tmp_path, max_line=8)
    w.feed("stdout", b"hello\r\nwor")
    w.feed("stdout", b"ld\n")
    w.feed("stderr", b"0123456789abc\n")
    w.feed("stdout", b"no newline")
    w.close()
    assert (tmp_path / "c" / "0.log").read_bytes().decode().splitlines() == [
        "2026-11-25T18:13:10.123456000Z stdout F hello",
        "2026-11-25T18:13:10.123456000Z stdout F world",
        "2026-11-25T18:13:10.123456000Z stderr P 01234567",
        "2026-11-25T18:13:10.123456000Z stderr F 89abc",
        "2026-11-25T18:13:10.123456000Z stdout P no newli",
        "2026-11-25T18:13:10.123456000Z stdout F ne",
    ]
    record = parse_cri_line(b"2026-11-25T18:13:10.123456000Z stdout F ")
    assert (record.stream, record.partial, record.content) == ("stdout", False, b"")


async def test_container_logs_per_attempt(
    runtime: LinuxRuntime, pod_config: Callable[..., PodSandboxConfig]
) -> None:
    sandbox = await runtime.run_pod_sandbox(pod_config())
    script = (
        "import sys; print('out', flush=True); print('err', file=sys.stderr, flush=True); print('x' * 20000)"
    )
    paths = []
    for attempt in (0, 1):
        cid = await run(runtime, sandbox, container([PYTHON, "-c", script], attempt=attempt))
        status = await runtime.wait_container(cid)
        assert status.log_path is not None
        paths.append(status.log_path)
    assert [p.name for p in paths] == ["0.log", "1.log"] and paths[0].parent.name == "app"
    for path in paths:
        raw = path.read_bytes().splitlines()
        assert all(LINE.match(line) for line in raw)
        records = read_cri_log(path)
        # Two pipes: the order across streams is not defined, the order within each one is.
        assert [(r.partial, r.content) for r in records if r.stream == "stdout"] == [
            (False, b"out"),
            (True, b"x" * 16384),
            (False, b"x" * (20000 - 16384)),
        ]
        assert [(r.partial, r.content) for r in records if r.stream == "stderr"] == [(False, b"err")]
