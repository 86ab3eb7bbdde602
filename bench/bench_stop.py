"""How long ``hitless up`` takes to stop when Ctrl-C comes at a given moment after it started.

For each delay (seconds after the "Ctrl-C to stop" banner), start ``hitless up MANIFEST -o
jsonl``, send SIGINT after that delay and time the exit; repeat ``--runs`` times. The pods'
own grace periods bound what a stop may take (preStop plus the app's SIGTERM handling, at most
terminationGracePeriodSeconds). A stop of the whole grace period right after ``Started`` is the
kernel dropping SIGTERM for a PID 1 that has no handler yet, as on a node (docs/reliability.md,
"Ctrl-C right after the pods started"); anything longer would be hitless's own.
Run: ``python bench/bench_stop.py [--manifest examples/zero-downtime.yaml] [--delays 0.2,0.5,1,2,3,5]
[--runs 5]``.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import threading
import time


def one_run(manifest: str, delay: float, timeout: float, extra: list[str]) -> tuple[float, float | None, str]:
    """(stop seconds, seconds from the first Started event to SIGINT or None, last reasons)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "hitless", "up", manifest, "-o", "jsonl", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    banner = threading.Event()
    first_started: list[float] = []
    reasons: list[str] = []

    def read_err() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "Ctrl-C to stop" in line:
                banner.set()

    def read_out() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            obj = json.loads(line)
            if obj.get("kind") == "Event":
                reasons.append(f"{time.monotonic():.2f}:{obj['involvedObject']['name'][-5:]}:{obj['reason']}")
                if obj["reason"] == "Started" and not first_started:
                    first_started.append(time.monotonic())

    threads = [threading.Thread(target=read_err, daemon=True), threading.Thread(target=read_out, daemon=True)]
    for t in threads:
        t.start()
    if not banner.wait(60):
        proc.kill()
        raise SystemExit("no banner in 60 s")
    time.sleep(delay)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    took = time.monotonic() - sent
    for t in threads:
        t.join(5)
    since_started = sent - first_started[0] if first_started else None
    return took, since_started, " ".join(r for r in reasons if float(r.split(":")[0]) >= sent - 0.5)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--manifest", default="examples/zero-downtime.yaml")
    p.add_argument("--delays", default="0.2,0.5,1,1.5,2,3,5")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--nodes", default="2")
    p.add_argument("-v", "--verbose", action="store_true", help="print the Events after each SIGINT")
    args = p.parse_args()
    for delay in [float(d) for d in args.delays.split(",")]:
        times = []
        for _ in range(args.runs):
            took, since, tail = one_run(args.manifest, delay, args.timeout, ["--nodes", args.nodes])
            times.append(took)
            since_s = "-" if since is None else f"{since:+.2f}"
            print(
                f"delay {delay:5.2f} s: stop {took:5.2f} s (SIGINT {since_s} s after 1st Started)", flush=True
            )
            if args.verbose:
                print(f"    {tail}", flush=True)
        print(
            f"delay {delay:5.2f} s: min {min(times):.2f} median {statistics.median(times):.2f} "
            f"max {max(times):.2f}  [{' '.join(f'{t:.1f}' for t in sorted(times))}]",
            flush=True,
        )


if __name__ == "__main__":
    main()
