"""The probers under load: CPU of the engine and how late probes start against their schedule.

Runs the engine in this process (as root: it creates namespaces) with N demo-app pods, each with
a liveness (httpGet /healthz), a readiness (httpGet /readyz) and a startup probe (tcpSocket),
all at periodSeconds 1. Once every pod is Ready it measures, over a window: the probes run per
second, the engine's CPU (this process and its threads; the pods' processes are children and
not counted) as a fraction of one core, and the lateness of every probe started by its ticker
(start time minus scheduled tick): p50, p99, max.

    sudo .venv/bin/python bench/bench_probes.py [--pods 200] [--window 20]

The startup probe stops after its first success (as the kubelet's), so the steady rate is
2 probes per pod per second; ``--pods 300`` gives 600 probes/s.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
import time
from pathlib import Path

from hitless.api import load_text
from hitless.api.types.pod import Pod
from hitless.clock import RealClock
from hitless.engine import Engine, EngineOptions, tune_gc
from hitless.kubelet.prober.prober import ProbeKind
from hitless.runtime.linux import LinuxRuntime

POD = """---
apiVersion: v1
kind: Pod
metadata: {{name: web-{i}}}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: web
    image: hitless
    args: [demo-app, --port=8080, --request-log=none]
    startupProbe:
      tcpSocket: {{port: 8080}}
      periodSeconds: 1
      failureThreshold: 120
    livenessProbe:
      httpGet: {{path: /healthz, port: 8080}}
      periodSeconds: 1
    readinessProbe:
      httpGet: {{path: /readyz, port: 8080}}
      periodSeconds: 1
"""


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def run(pods: int, window: float, ready_timeout: float, profile: str | None = None) -> dict[str, float]:
    clock = RealClock()
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(LinuxRuntime(clock), clock, EngineOptions(nodes=1, log_dir=Path(tmp)))
        samples: list[tuple[float, ProbeKind, float]] = []
        for kubelet in engine.kubelets:
            kubelet.probes.lateness_observer = lambda kind, late: samples.append((clock.now(), kind, late))
        await engine.start()
        tune_gc()  # as `hitless up` does
        try:
            result = load_text("".join(POD.format(i=i) for i in range(pods)), "bench.yaml")
            assert not result.errors, result.errors[0].format()
            started = clock.now()
            engine.apply(o.obj for o in result.objects)
            deadline = started + ready_timeout
            while sum(1 for p in engine.store.pods() if isinstance(p, Pod) and p.is_ready()) < pods:
                if clock.now() > deadline:
                    raise SystemExit(f"not every pod was Ready after {ready_timeout}s")
                await asyncio.sleep(0.2)
            all_ready = clock.now() - started
            await asyncio.sleep(3)  # let the start-up burst settle
            profiler = None
            if profile:
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            pauses: list[float] = []
            gc_start = [0.0]

            def on_gc(phase: str, info: dict[str, int]) -> None:
                if phase == "start":
                    gc_start[0] = time.perf_counter()
                else:
                    pauses.append(time.perf_counter() - gc_start[0])

            gc.callbacks.append(on_gc)
            cpu0, t0, n0 = time.process_time(), clock.now(), len(samples)
            await asyncio.sleep(window)
            cpu1, t1 = time.process_time(), clock.now()
            gc.callbacks.remove(on_gc)
            if profiler is not None and profile:
                profiler.disable()
                profiler.dump_stats(profile)
            lateness = [late for _, _, late in samples[n0:]]
        finally:
            engine.kill_now()
            await asyncio.wait_for(engine.wait_idle(), 60)
            await engine.stop()
    elapsed = t1 - t0
    return {
        "pods": pods,
        "all_ready_s": all_ready,
        "probes_per_s": len(lateness) / elapsed,
        "cpu_cores": (cpu1 - cpu0) / elapsed,
        "p50_ms": percentile(lateness, 50) * 1000,
        "p99_ms": percentile(lateness, 99) * 1000,
        "max_ms": max(lateness) * 1000,
        "gc_pauses": len(pauses),
        "gc_max_ms": max(pauses, default=0.0) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pods", type=int, default=200)
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--ready-timeout", type=float, default=180.0)
    parser.add_argument("--profile", metavar="FILE", help="cProfile the event loop's thread over the window")
    args = parser.parse_args()
    r = asyncio.run(run(args.pods, args.window, args.ready_timeout, args.profile))
    print(f"probe benchmark: {r['pods']:.0f} pods, periodSeconds 1, window {args.window:.0f}s")
    header = ("pods", "all Ready", "probes/s", "engine CPU", "p50", "p99", "max")
    print("{:>5} {:>10} {:>9} {:>11} {:>8} {:>8} {:>8}".format(*header))
    print(
        f"{r['pods']:>5.0f} {r['all_ready_s']:>9.1f}s {r['probes_per_s']:>9.0f} {r['cpu_cores']:>8.2f} core"
        f" {r['p50_ms']:>6.1f}ms {r['p99_ms']:>6.1f}ms {r['max_ms']:>6.1f}ms"
    )
    print(f"garbage collections in the window: {r['gc_pauses']:.0f}, longest {r['gc_max_ms']:.1f}ms")


if __name__ == "__main__":
    main()
