"""Fixtures for ``hitless init``: processes started here are SIGKILLed by PID at teardown."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .helpers import HITLESS, IGNORER, UNSHARE, WORKER, Proc, alive


@pytest.fixture
def scripts(tmp_path: Path) -> dict[str, str]:
    """Paths of the shell workloads, and of the file they write their progress to."""
    (tmp_path / "worker.sh").write_text(WORKER)
    (tmp_path / "ignorer.sh").write_text(IGNORER)
    return {
        "worker": str(tmp_path / "worker.sh"),
        "ignorer": str(tmp_path / "ignorer.sh"),
        "out": str(tmp_path / "out"),
    }


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Proc]]:
    """``start(init_args, pidns=False)`` runs ``hitless init *init_args``; ``start(argv, raw=True)``
    runs argv itself (e.g. a shell as PID 1)."""
    procs: list[Proc] = []

    def _start(args: list[str], pidns: bool = False, raw: bool = False, **kwargs: object) -> Proc:
        if pidns and (UNSHARE is None or os.geteuid() != 0):
            pytest.skip("needs root and util-linux unshare for a PID namespace")
        argv = list(args) if raw else [HITLESS, "init", *args]
        proc = Proc(argv, tmp_path, pidns, **kwargs)  # type: ignore[arg-type]
        procs.append(proc)
        return proc

    yield _start
    for proc in procs:
        proc.kill()
    # Workloads run outside a namespace write their pid here; a failed test may have orphaned them.
    for pidfile in tmp_path.glob("*.pid"):
        try:
            pid = int(pidfile.read_text().split()[0])
        except (ValueError, IndexError):
            continue
        try:
            ours = str(tmp_path).encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if ours and alive(pid):
            os.kill(pid, signal.SIGKILL)
