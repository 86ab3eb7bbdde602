"""terminationMessagePolicy FallbackToLogsOnError: the log's tail as the terminated message."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from hitless.api.types.pod import Container
from hitless.kubelet.termination import last_log_lines, with_log_fallback
from hitless.runtime import cri

TS = "2026-12-06T03:00:00.000000000Z"


def write_log(path: Path, lines: list[tuple[str, str, str]]) -> Path:
    path.write_text("".join(f"{TS} {stream} {tag} {content}\n" for stream, tag, content in lines))
    return path


def exited(log: Path, exit_code: int = 1, message: str | None = None) -> cri.ContainerStatus:
    return cri.ContainerStatus(
        id="c1", name="app", attempt=0, state=cri.ContainerState.EXITED, created_at=datetime.now(UTC),
        exit_code=exit_code, reason="Error" if exit_code else "Completed", message=message, log_path=log,
    )  # fmt: skip


def test_the_last_80_lines_of_both_streams_at_most_2048_bytes(tmp_path: Path) -> None:
    log = write_log(
        tmp_path / "0.log",
        [("stdout", "F", f"line {i}") for i in range(100)]
        + [("stderr", "P", "partial "), ("stderr", "F", "end"), ("stdout", "F", "")],
    )
    tail = last_log_lines(log)
    assert tail.endswith("line 99\npartial end\n\n")
    assert tail.startswith("line 23\n")  # 80 lines: 23..99, then the three of the end
    big = write_log(tmp_path / "1.log", [("stdout", "F", "x" * 100) for _ in range(50)])
    assert len(last_log_lines(big).encode()) == 2048


def test_only_for_the_policy_and_a_failure_without_a_message(tmp_path: Path) -> None:
    log = write_log(tmp_path / "0.log", [("stderr", "F", "panic: boom")])
    fallback = Container(name="app", termination_message_policy="FallbackToLogsOnError")
    file_only = Container(name="app", termination_message_policy="File")
    assert with_log_fallback(fallback, exited(log)).message == "panic: boom\n"
    assert with_log_fallback(file_only, exited(log)).message is None
    assert with_log_fallback(fallback, exited(log, exit_code=0)).message is None
    # What the container wrote to its termination-message file wins.
    assert with_log_fallback(fallback, exited(log, message="from the file")).message == "from the file"
