"""The probers under load: CPU of the engine and how late probes start against their schedule.

Runs the engine in this process (as root: it creates namespaces) with N pods, as `hitless up`
runs it (collector tuned, event loop ahead of the pods), all probes at periodSeconds 1. Once
every pod is Ready it measures, over a window: the probes run per second, the engine's CPU (this
process and its threads; the pods' processes are children and not counted) as a fraction of one
core, and the lateness of every probe started by its ticker (start time minus scheduled tick):
p50, p99, max.

    sudo .venv/bin/python bench/bench_probes.py [--pods 200] [--probes-per-pod 3] [--window 20]

``--probes-per-pod 3`` (the issue's 200 pods x 3 probes = 600 probes/s): a demo-app container
with a liveness (httpGet /healthz) and a readiness probe (httpGet /readyz), and a second
container (``sleep``) whose liveness probe is a tcpSocket on the app's port, which the pod's
containers share. ``--probes-per-pod 2``: one demo-app container with liveness, readiness and a
startup probe (tcpSocket), which stops at its first success as the kubelet's does; 300 pods give
600 probes/s with 100 more apps on the CPUs.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
import threading
import time
from pathlib import Path

from hitless.api import load_text
from hitless.api.types.pod import Pod
from hitless.clock import RealClock
from hitless.engine import Engine, EngineOptions, run_ahead_of_pods, tune_gc
from hitless.kubelet.prober.prober import ProbeKind
from hitless.runtime.linux import LinuxRuntime

WEB = """---
apiVersion: v1
kind: Pod
metadata: {{name: web-{i}}}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: web
    image: hitless
    args: [demo-app, --port=8080, --request-log=none]
    livenessProbe:
      httpGet: {{path: /healthz, port: 8080}}
      periodSeconds: 1
      failureThreshold: 120
    readinessProbe:
      httpGet: {{path: /readyz, port: 8080}}
      periodSeconds: 1
"""
PODS = {
    # The app's container also has a startup probe, which stops at its first success.
    2: WEB
    + """    startupProbe:
      tcpSocket: {{port: 8080}}
      periodSeconds: 1
      failureThreshold: 120
""",
    # A second container whose liveness probe is a tcpSocket on the app's port (one network).
    3: WEB
    + """  - name: helper
    image: busybox
    command: [sleep, infinity]
    livenessProbe:
      tcpSocket: {{port: 8080}}
      periodSeconds: 1
      failureThreshold: 120
""",
}


def run_delay() -> float:
    """Seconds the event loop's thread has spent runnable but waiting for a CPU (schedstat)."""
    with open(f"/proc/self/task/{threading.get_native_id()}/schedstat") as f:
        return int(f.read().split()[1]) / 1e9


async def loop_lag(lags: list[float]) -> None:
    """How late a bare 10 ms timer fires: the loop's own lag, whatever the probes do."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + 0.01
        await asyncio.sleep(0.01)
        lags.append(loop.time() - due)


def busiest(due: list[float], width: float, period: float = 1.0) -> float:
    """Probes per period due in the busiest ``width`` of the period: how bunched the ticks are.

    Each worker ticks in the phase of when its pod was added, so pods added together probe
    together; the lateness of a run depends on how its pods' phases fell."""
    phases = sorted(t % period for t in due)
    phases += [p + period for p in phases]
    most, j = 0, 0
    for i in range(len(phases) // 2):
        while phases[j] < phases[i] + width:
            j += 1
        most = max(most, j - i)
    return most * period / ((max(due) - min(due)) or period)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def run(
    pods: int,
    window: float,
    ready_timeout: float,
    ahead: bool = True,
    profile: str | None = None,
    probes_per_pod: int = 3,
) -> dict[str, float]:
    clock = RealClock()
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(LinuxRuntime(clock), clock, EngineOptions(nodes=1, log_dir=Path(tmp)))
        samples: list[tuple[float, ProbeKind, float]] = []
        for kubelet in engine.kubelets:
            kubelet.probes.lateness_observer = lambda kind, late: samples.append((clock.now(), kind, late))
        await engine.start()
        tune_gc()  # as `hitless up` does
        if ahead:
            why_not = run_ahead_of_pods()  # as `hitless up` does
            if why_not:
                print(f"the event loop does not run ahead of the pods: {why_not}")
        try:
            result = load_text("".join(PODS[probes_per_pod].format(i=i) for i in range(pods)), "bench.yaml")
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
            generations: list[int] = []
            gc_start = [0.0]

            def on_gc(phase: str, info: dict[str, int]) -> None:
                if phase == "start":
                    gc_start[0] = time.perf_counter()
                else:
                    pauses.append(time.perf_counter() - gc_start[0])
                    generations.append(info["generation"])

            gc.callbacks.append(on_gc)
            lags: list[float] = []
            ticker = asyncio.ensure_future(loop_lag(lags))
            sched0 = run_delay()
            cpu0, t0, n0 = time.process_time(), clock.now(), len(samples)
            await asyncio.sleep(window)
            cpu1, t1 = time.process_time(), clock.now()
            sched1 = run_delay()
            ticker.cancel()
            gc.callbacks.remove(on_gc)
            if profiler is not None and profile:
                profiler.disable()
                profiler.dump_stats(profile)
            lateness = [late for _, _, late in samples[n0:]]
            due = [now - late for now, _, late in samples[n0:]]
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
        "busiest_20ms": busiest(due, 0.02),
        "run_delay": (sched1 - sched0) / elapsed,
        "lag_p50_ms": percentile(lags, 50) * 1000,
        "lag_p99_ms": percentile(lags, 99) * 1000,
        "gc_max_ms": max(pauses, default=0.0) * 1000,
        "gc_oldest": max(generations, default=0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pods", type=int, default=200)
    parser.add_argument("--probes-per-pod", type=int, choices=(2, 3), default=3)
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--ready-timeout", type=float, default=180.0)
    parser.add_argument(
        "--no-ahead", action="store_true", help="leave the event loop's thread at normal priority"
    )
    parser.add_argument("--profile", metavar="FILE", help="cProfile the event loop's thread over the window")
    args = parser.parse_args()
    r = asyncio.run(
        run(args.pods, args.window, args.ready_timeout, not args.no_ahead, args.profile, args.probes_per_pod)
    )
    print(
        f"probe benchmark: {r['pods']:.0f} pods x {args.probes_per_pod} probes, periodSeconds 1,"
        f" window {args.window:.0f}s, event loop {'normal' if args.no_ahead else 'ahead of the pods'}"
    )
    header = ("pods", "all Ready", "probes/s", "engine CPU", "p50", "p99", "max")
    print("{:>5} {:>10} {:>9} {:>11} {:>8} {:>8} {:>8}".format(*header))
    print(
        f"{r['pods']:>5.0f} {r['all_ready_s']:>9.1f}s {r['probes_per_s']:>9.0f} {r['cpu_cores']:>8.2f} core"
        f" {r['p50_ms']:>6.1f}ms {r['p99_ms']:>6.1f}ms {r['max_ms']:>6.1f}ms"
    )
    print(
        f"event loop thread waiting for a CPU: {r['run_delay'] * 1000:.0f} ms/s;"
        f" a bare 10 ms timer late by p50 {r['lag_p50_ms']:.1f} ms, p99 {r['lag_p99_ms']:.1f} ms"
    )
    print(
        f"ticks: the busiest 20 ms of each second holds {r['busiest_20ms']:.0f} probes"
        f" (evenly spread: {r['probes_per_s'] * 0.02:.0f})"
    )
    print(
        f"garbage collections in the window: {r['gc_pauses']:.0f} (oldest generation {r['gc_oldest']:.0f}),"
        f" longest {r['gc_max_ms']:.1f}ms"
    )


if __name__ == "__main__":
    main()
