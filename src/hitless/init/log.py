"""The ``-v`` event log: one logfmt line per event on stderr.

logfmt rather than JSON because ``json`` imports ``re`` (milliseconds at start-up) and logfmt is
as easy to grep and parse. Lines are written with one ``os.write`` each so that they never
interleave with the child's own stderr mid-line.
"""

from __future__ import annotations

import os
import time

from hitless.init.sig import name as signame


def _quote(value: object) -> str:
    text = str(value)
    if text and not any(c in text for c in ' "=\\\n\t'):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def describe_status(code: int, signum: int | None) -> str:
    if signum is not None:
        return f"killed by {signame(signum)}"
    return f"exited {code}"


class Log:
    """Events at verbosity 1 (``-v``) or 2 (``-vv``); warnings always.

    A failed write (stderr closed, a full pipe nobody reads) turns logging off rather than
    killing the init: losing log lines is better than losing the workload's shutdown.
    """

    def __init__(self, verbosity: int, fd: int = 2) -> None:
        self.verbosity = verbosity
        self._fd = fd
        self._broken = False

    def enabled(self, level: int) -> bool:
        return self.verbosity >= level and not self._broken

    def event(self, level: int, event: str, **fields: object) -> None:
        if not self.enabled(level):
            return
        self._write("info" if level <= 1 else "debug", event, fields)

    def warn(self, event: str, message: str, **fields: object) -> None:
        if self._broken:
            return
        fields["msg"] = message
        self._write("warn", event, fields)

    def _write(self, level: str, event: str, fields: dict[str, object]) -> None:
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
        parts = [f"ts={stamp}", f"level={level}", "logger=hitless-init", f"event={event}"]
        parts.extend(f"{key}={_quote(value)}" for key, value in fields.items() if value is not None)
        data = (" ".join(parts) + "\n").encode("utf-8", "replace")
        try:
            while data:
                data = data[os.write(self._fd, data) :]
        except OSError:
            self._broken = True
