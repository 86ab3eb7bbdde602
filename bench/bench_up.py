"""How fast ``hitless up`` brings demo-app pods up, and what the engine and each pod cost.

For 1, 10 and 50 pods of ``hitless demo-app``: the time from starting ``hitless up`` to every
container Running (read from its jsonl stream), the time to accepting connections, the engine's
RSS once everything runs, the memory of the pods' processes, and the time to stop everything
gracefully. Run: ``python bench/bench_up.py [--runs 3] [--pods 1,10,50]``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

POD = """---
apiVersion: v1
kind: Pod
metadata:
  name: web-{i}
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: web
{workload}
"""

WORKLOADS = {
    "demo-app": "    image: hitless\n    args: [demo-app, --port=8080, --request-log=none]",
    # The engine's own cost, without 50 Pythons starting at once on the same cores.
    "sleep": "    image: busybox\n    command: [sleep, infinity]",
}


def children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry))
    return out


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        for child in children(todo.pop()):
            found.append(child)
            todo.append(child)
    return found


def kib(pid: int, field: str, path: str = "status") -> int:
    try:
        with open(f"/proc/{pid}/{path}") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def engine_pid(outer: int) -> int:
    """P (what the user started) → I (PID 1 of the engine's namespace) → E (the engine)."""
    init = children(outer)[0]
    return children(init)[0]


def run_once(pods: int, workload: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        manifest = Path(tmp) / "pods.yaml"
        manifest.write_text("".join(POD.format(i=i, workload=WORKLOADS[workload]) for i in range(pods)))
        start = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "hitless", "up", str(manifest), "-o", "jsonl"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert proc.stdout is not None
        running: set[str] = set()
        for line in proc.stdout:
            obj = json.loads(line)
            if obj["kind"] != "Pod":
                continue
            statuses = obj["status"].get("containerStatuses") or []
            if statuses and all("running" in s["state"] for s in statuses):
                running.add(obj["metadata"]["name"])
            if len(running) == pods:
                break
        all_running = time.monotonic() - start
        engine = engine_pid(proc.pid)
        pod_procs = descendants(engine)
        time.sleep(1.0)  # let the demo apps finish importing, then measure them as they serve
        engine_rss = kib(engine, "VmRSS")
        pod_pss = sum(kib(p, "Pss", "smaps_rollup") for p in pod_procs)
        pod_rss = sum(kib(p, "VmRSS") for p in pod_procs)
        stop_start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=120)
        stopped = time.monotonic() - stop_start
        return {
            "running_s": all_running,
            "engine_rss_mib": engine_rss / 1024,
            "pods_pss_mib": pod_pss / 1024,
            "pods_rss_mib": pod_rss / 1024,
            "stop_s": stopped,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pods", default="1,10,50")
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="demo-app")
    args = parser.parse_args()
    sizes = [int(n) for n in args.pods.split(",")]
    results: dict[int, dict[str, float]] = {}
    for n in sizes:
        runs = [run_once(n, args.workload) for _ in range(args.runs)]
        results[n] = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    print(f"hitless up, {args.workload} pods, median of {args.runs} runs ({os.cpu_count()} CPUs)")
    print(f"{'pods':>5} {'all Running':>12} {'engine RSS':>11} {'pods PSS':>10} {'pods RSS':>10} {'stop':>7}")
    for n, r in results.items():
        print(
            f"{n:>5} {r['running_s']:>11.2f}s {r['engine_rss_mib']:>8.1f}MiB {r['pods_pss_mib']:>7.1f}MiB "
            f"{r['pods_rss_mib']:>7.1f}MiB {r['stop_s']:>6.2f}s"
        )
    if len(sizes) >= 2:
        lo, hi = sizes[0], sizes[-1]
        per_pod_engine = (results[hi]["engine_rss_mib"] - results[lo]["engine_rss_mib"]) / (hi - lo)
        per_pod_pss = (results[hi]["pods_pss_mib"] - results[lo]["pods_pss_mib"]) / (hi - lo)
        print(
            f"per pod: engine +{per_pod_engine * 1024:.0f} KiB RSS, pod processes +{per_pod_pss:.1f} MiB PSS"
        )


if __name__ == "__main__":
    main()
