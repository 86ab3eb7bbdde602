"""How long ``hitless check`` takes on 1,000 objects (the goal: under 2 s).

500 Deployments of the demo app (probes, preStop, ports) and their 500 Services, a tenth of them
``externalTrafficPolicy: Local`` load balancers, in one stream: the time to load (decode,
default, validate) and the time to run every rule, each the median of ``--runs`` runs, plus the
total as ``hitless check`` would spend it (a fresh process, imports included), and that process's
fixed cost (start-up: the same command on a one-object file).

A fresh process compiles hitless's sources again when Python writes no bytecode cache
(``PYTHONDONTWRITEBYTECODE``, set in some CI and container setups); an installed hitless has its
``.pyc`` files. The command is therefore timed both ways: as the environment has it, and with a
bytecode cache (a temporary ``PYTHONPYCACHEPREFIX``, warmed by one run).
Run: ``python bench/bench_check.py [--runs 5] [--objects 1000]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hitless.api import load_text
from hitless.check.runner import check_loaded, default_params

PAIR = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web-{i}, labels: {{app: web-{i}}}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: web-{i}}}}}
  template:
    metadata: {{labels: {{app: web-{i}}}}}
    spec:
      terminationGracePeriodSeconds: 20
      containers:
      - name: web
        image: hitless:0.1.0
        args: [demo-app, --port=8080, --shutdown-delay={delay}]
        ports: [{{name: http, containerPort: 8080}}]
        readinessProbe: {{httpGet: {{path: /readyz, port: http}}, periodSeconds: 2}}
        livenessProbe: {{httpGet: {{path: /healthz, port: http}}, failureThreshold: 5}}
        lifecycle: {{preStop: {{sleep: {{seconds: {sleep}}}}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: web-{i}}}
spec:
{service}  selector: {{app: web-{i}}}
  ports: [{{name: http, port: 80, targetPort: http}}]
"""
LOCAL = "  type: LoadBalancer\n  externalTrafficPolicy: Local\n"


def manifest(objects: int) -> str:
    return "---\n".join(
        PAIR.format(
            i=i,
            replicas=1 + i % 4,
            delay=i % 3,
            sleep=i % 5,
            service=LOCAL if i % 10 == 0 else "",
        )
        for i in range(objects // 2)
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--objects", type=int, default=1000)
    args = parser.parse_args()
    text = manifest(args.objects)
    load_text("apiVersion: v1\nkind: Service\nmetadata: {name: warm}\nspec: {ports: [{port: 1}]}\n")
    loads, checks, findings = [], [], 0
    for _ in range(args.runs):
        start = time.perf_counter()
        result = load_text(text, "bench.yaml")
        loaded = time.perf_counter()
        report = check_loaded(result, default_params())
        done = time.perf_counter()
        loads.append(loaded - start)
        checks.append(done - loaded)
        findings = len(report.findings)
        assert len(result.objects) == args.objects, result.errors[:3]
    with tempfile.TemporaryDirectory() as tmp:
        big, small = Path(tmp) / "bench.yaml", Path(tmp) / "one.yaml"
        big.write_text(text)
        small.write_text(manifest(2).split("---\n")[1])
        cached = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        cached["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        command(small, cached)  # fills the bytecode cache
        runs = max(3, args.runs // 2)
        walls = [command(big, None) for _ in range(runs)]
        walls_cached = [command(big, cached) for _ in range(runs)]
        starts = [command(small, None) for _ in range(runs)]
        starts_cached = [command(small, cached) for _ in range(runs)]
    print(f"objects: {args.objects}, findings: {findings}")
    print(f"load (decode, default, validate): median {statistics.median(loads):.3f} s")
    print(f"rules:                           median {statistics.median(checks):.3f} s")
    both = statistics.median(loads) + statistics.median(checks)
    print(f"in process, load + rules:        median {both:.3f} s")
    no_cache = "PYTHONDONTWRITEBYTECODE" in os.environ
    label = "no bytecode cache" if no_cache else "as this environment has it"
    print(f"`hitless check` process, total:  median {statistics.median(walls):.3f} s ({label})")
    print(f"  with a bytecode cache:         median {statistics.median(walls_cached):.3f} s")
    print(f"start-up (a one-object file):    median {statistics.median(starts):.3f} s ({label})")
    print(f"  with a bytecode cache:         median {statistics.median(starts_cached):.3f} s")
    return 0


def command(manifest_file: Path, env: dict[str, str] | None) -> float:
    """Wall time of one ``hitless check`` process."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "hitless", "check", str(manifest_file), "--format", "json"],
        capture_output=True,
        env=env,
        check=False,
    )
    return time.perf_counter() - start


if __name__ == "__main__":
    sys.exit(main())
