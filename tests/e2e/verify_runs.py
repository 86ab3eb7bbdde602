"""``hitless verify`` run as a user runs it (a subprocess), shared by the verify and agreement tests.

Runs are expensive (each is a real rollout of real processes under load), so a run that two
tests read, the zero-downtime example's, is made once per test session.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
HITLESS = [sys.executable, "-m", "hitless"]


@dataclass
class VerifyRun:
    code: int
    stdout: str
    stderr: str
    report_dir: Path

    @property
    def report(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.report_dir / "report.json").read_text())
        return data

    def causes(self) -> dict[str, int]:
        return dict(self.report["causes"])

    def describe(self) -> str:
        """What to print when an assertion fails: the run's own account of itself."""
        return f"exit {self.code}\n--- stdout\n{self.stdout[-4000:]}\n--- stderr\n{self.stderr[-3000:]}"


def run_verify(*args: str, report_dir: Path | None = None, timeout: float = 180) -> VerifyRun:
    out = report_dir or Path(tempfile.mkdtemp(prefix="hitless-verify-test-"))
    proc = subprocess.run(
        [*HITLESS, "verify", *args, "--report", str(out)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    return VerifyRun(proc.returncode, proc.stdout, proc.stderr, out)


@functools.cache
def zero_downtime_run() -> VerifyRun:
    """The README's command on the passing example: 3 rollouts of 3 replicas at 200 requests/s
    (the defaults), with the JSON report on stdout."""
    return _once_per_session("zero-downtime", str(EXAMPLES / "zero-downtime.yaml"), "--format", "json")


def _once_per_session(name: str, *args: str) -> VerifyRun:
    """``run_verify(*args)``, made once for the whole test session even under pytest-xdist: the
    first worker to ask runs it while holding a lock, the other reads what it left."""
    session = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if session is None:  # one process: functools.cache is enough
        return run_verify(*args)
    folder = Path(tempfile.gettempdir()) / f"hitless-test-run-{session}-{name}"
    folder.mkdir(exist_ok=True)
    with open(folder / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        saved = folder / "run.json"
        if saved.exists():
            data = json.loads(saved.read_text())
            return VerifyRun(**{**data, "report_dir": Path(data["report_dir"])})
        run = run_verify(*args, report_dir=folder / "report")
        saved.write_text(json.dumps(asdict(run), default=str))
        return run
