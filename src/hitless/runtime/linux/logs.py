"""Container logs in the CRI format, as containerd writes them and ``kubectl logs`` reads them.

One line per record: ``<RFC3339 UTC time, 9 fraction digits> <stdout|stderr> <F|P> <content>``.
``P`` marks a piece of a line longer than the maximum line size (containerd's
``max_container_log_line_size``, 16 KiB); the last piece of that line is ``F``. As containerd
(Go's ``bufio.ReadLine``), a trailing ``\\r`` before the newline is dropped, and an unterminated
last line is written as ``F`` at end of stream.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

MAX_LINE = 16 * 1024
STREAMS = ("stdout", "stderr")


def cri_timestamp(when: datetime) -> str:
    return f"{when:%Y-%m-%dT%H:%M:%S}.{when.microsecond:06d}000Z"


class CriLogWriter:
    """Appends both streams of one container attempt to ``path``."""

    def __init__(self, path: Path, wall: Callable[[], datetime], max_line: int = MAX_LINE) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._wall = wall
        self._max_line = max_line
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
        self._pending: dict[str, bytes] = {name: b"" for name in STREAMS}

    def feed(self, stream: str, data: bytes) -> None:
        pending = self._pending[stream]
        buf = pending + data if pending else data
        max_line = self._max_line
        last_nl = buf.rfind(b"\n")
        # Split in C and join in C: a per-line Python loop over a 64 KiB read of short lines
        # costs tens of milliseconds, which a chatty container would take from the event loop.
        lines = buf[:last_nl].split(b"\n") if last_nl >= 0 else []
        rest = buf[last_nl + 1 :]
        records: list[tuple[bytes, bool]] | None = None
        if lines and (max(map(len, lines)) > max_line or b"\r" in buf):
            records = []
            for line in lines:
                while len(line) > max_line:
                    records.append((line[:max_line], True))
                    line = line[max_line:]
                records.append((line[:-1] if line.endswith(b"\r") else line, False))
        while len(rest) >= max_line:
            if records is None:
                records = [(line, False) for line in lines]
            records.append((rest[:max_line], True))
            rest = rest[max_line:]
        self._pending[stream] = rest
        if records is not None:
            self._write(stream, records)
        elif lines:
            self._write_full(stream, lines)

    def end(self, stream: str) -> None:
        """The stream reached EOF: flush what is left of its last line."""
        rest, self._pending[stream] = self._pending[stream], b""
        if rest:
            self._write(stream, [(rest, False)])

    def _prefix(self, stream: str) -> bytes:
        return f"{cri_timestamp(self._wall())} {stream} ".encode()

    def _write_full(self, stream: str, lines: list[bytes]) -> None:
        """Complete lines only, the common case."""
        head = self._prefix(stream) + b"F "
        self._append(head + (b"\n" + head).join(lines) + b"\n")

    def _write(self, stream: str, records: list[tuple[bytes, bool]]) -> None:
        if not records:
            return
        prefix = self._prefix(stream)
        self._append(
            b"".join(prefix + (b"P " if partial else b"F ") + line + b"\n" for line, partial in records)
        )

    def _append(self, out: bytes) -> None:
        if self._fd is None:
            return
        # As containerd: a log that cannot be written loses lines, the container goes on.
        with contextlib.suppress(OSError):
            os.write(self._fd, out)

    def close(self) -> None:
        for stream in STREAMS:
            self.end(stream)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@dataclass(frozen=True)
class CriLogRecord:
    timestamp: str
    stream: str
    partial: bool
    content: bytes


def parse_cri_line(line: bytes) -> CriLogRecord:
    """One line of a CRI log file (without its newline)."""
    parts = line.split(b" ", 3)
    if len(parts) < 4:
        raise ValueError(f"not a CRI log line: {line[:80]!r}")
    timestamp, stream, tag, content = parts
    return CriLogRecord(timestamp.decode(), stream.decode(), tag == b"P", content)


def read_cri_log(path: Path) -> list[CriLogRecord]:
    return [parse_cri_line(line) for line in path.read_bytes().splitlines()]
