"""``hitless verify`` run as a user runs it (a subprocess), shared by the verify and agreement tests.

Runs are expensive (each is a real rollout of real processes under load), so a run that two
tests read, the zero-downtime example's, is made once per test session.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
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
    return run_verify(str(EXAMPLES / "zero-downtime.yaml"), "--format", "json")
