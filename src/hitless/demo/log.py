"""One timestamped line per event on stdout.

Each line carries the UTC wall time (to line up with the engine's own logs and Events) and the
seconds since the process started (what the health schedules count from), so a reader can check
the order and timing of phases without a clock of their own.
"""

from __future__ import annotations

import contextlib
import sys
import time

_origin = time.monotonic()


def set_origin(monotonic_start: float) -> None:
    global _origin
    _origin = monotonic_start


def uptime() -> float:
    return time.monotonic() - _origin


def wall_stamp(now: float | None = None) -> str:
    now = time.time() if now is None else now
    millis = int(now % 1 * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{millis:03d}Z"


def log(message: str) -> None:
    # The reader of our stdout may have gone away (or never been: sys.stdout is None when fd 1 is
    # closed): losing a log line must not turn into a crash, which a scenario would misread as the
    # app's own failure.
    with contextlib.suppress(OSError, ValueError, AttributeError):
        sys.stdout.write(f"{wall_stamp()} +{uptime():.3f}s {message}\n")
