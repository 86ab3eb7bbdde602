"""Wall time of ``hitless verify`` on the passing example, as a user runs it (target: ≤ 30 s).

Runs ``hitless verify examples/zero-downtime.yaml`` (3 rollouts of 3 replicas at 200 requests/s,
the defaults) ``--runs`` times in a subprocess and reports, per run, the wall time, the verdict,
the requests sent and failed, and the time each phase took from the CLI's progress lines
(start-up until the load starts, the rounds, the graceful stop, the report). The generator's
own figures (rate held, CPU) are bench/bench_generator.py's.

    .venv/bin/python bench/bench_verify.py [--runs 3] [--file examples/zero-downtime.yaml] [-- VERIFY FLAGS]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROGRESS = re.compile(r"^hitless verify: \[\s*([0-9.]+) s\] (.*)$")


def one(file: str, extra: list[str]) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as out:
        start = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "hitless", "verify", file, "--report", out, *extra],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=300,
        )
        wall = time.monotonic() - start
        report = json.loads((Path(out) / "report.json").read_text()) if proc.returncode in (0, 1) else {}
    marks = [(float(m[1]), m[2]) for m in map(PROGRESS.match, proc.stderr.splitlines()) if m]
    load_at = next((t for t, what in marks if "requests/s to" in what), None)
    stop_at = next((t for t, what in marks if what == "stopping"), None)
    stopped_at = next((t for t, what in marks if what.startswith("stopped;")), None)
    requests = report.get("requests", {}) if isinstance(report, dict) else {}
    return {
        "exit": proc.returncode,
        "wall_s": round(wall, 2),
        "verdict": report.get("verdict"),
        "requests": requests.get("total"),
        "failed": requests.get("failed"),
        "until_load_s": load_at,
        "rounds_s": round(stop_at - load_at, 2) if stop_at is not None and load_at is not None else None,
        "graceful_stop_s": round(stopped_at - stop_at, 2) if stopped_at and stop_at else None,
        "report_s": round(wall - stopped_at, 2) if stopped_at is not None else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--file", default="examples/zero-downtime.yaml")
    parser.add_argument("extra", nargs="*", help="flags passed on to hitless verify (after --)")
    args = parser.parse_args()
    walls = []
    for i in range(args.runs):
        result = one(args.file, args.extra)
        walls.append(float(result["wall_s"]))  # type: ignore[arg-type]
        print(f"run {i + 1}: " + "  ".join(f"{k} {v}" for k, v in result.items()), flush=True)
    print(
        f"hitless verify {args.file}: wall median {statistics.median(walls):.1f} s, "
        f"max {max(walls):.1f} s over {len(walls)} runs (target ≤ 30 s)"
    )


if __name__ == "__main__":
    main()
