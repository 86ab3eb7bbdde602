"""The temporary container-log directory of a run, and what a killed run left of its own.

A run that ends normally removes its directory itself. A run that is SIGKILLed cannot: its
directory would stay in the temporary directory forever. So each run holds an exclusive
``flock`` on a file inside its directory for as long as any of its processes lives (the lock
belongs to the open file, which the engine's processes share across their forks, and the kernel
drops it when the last of them dies, however it dies), and every run first removes the
directories of earlier runs whose lock nobody holds any more. A directory that is in use is
never touched, whoever's it is; one of another user's is not removable anyway.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from pathlib import Path

PREFIX = "hitless-logs-"
LOCK = ".hitless-run.lock"


def clean_stale(parent: Path | None = None) -> list[Path]:
    """Remove the log directories of runs that are gone (their lock is free); returns them."""
    folder = Path(parent or tempfile.gettempdir())
    removed: list[Path] = []
    try:
        candidates = [p for p in folder.iterdir() if p.name.startswith(PREFIX)]
    except OSError:
        return removed
    for path in candidates:
        try:
            if path.is_symlink() or not path.is_dir() or path.stat().st_uid != os.geteuid():
                continue
            fd = os.open(path / LOCK, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            # No lock file: a directory of an older hitless, or one being created right now.
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)  # a live run holds it
            continue
        try:
            shutil.rmtree(path, ignore_errors=True)
        finally:
            os.close(fd)
        if not path.exists():
            removed.append(path)
    return removed


def make_run_log_dir(parent: Path | None = None) -> tuple[Path, int]:
    """A new log directory for this run, locked; returns it and the lock's fd (keep it open).

    Made under a name that :func:`clean_stale` does not look at, locked, and only then renamed,
    so that no other run can find it between its creation and its lock."""
    hidden = Path(tempfile.mkdtemp(prefix="." + PREFIX, dir=parent))
    fd = os.open(hidden / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    path = hidden.with_name(hidden.name[1:])
    try:
        os.rename(hidden, path)
    except OSError:
        return hidden, fd  # (taken by now: keep the hidden name)
    return path, fd


def remove_run_log_dir(path: Path, fd: int) -> None:
    shutil.rmtree(path, ignore_errors=True)
    with contextlib.suppress(OSError):
        os.close(fd)
