"""How long the Linux runtime takes to start pods, and what a pod costs in memory.

    python bench/bench_runtime.py [--bootstrap] [--sizes 1,10,50] [--churn 200]

For each size N: run N sandboxes and start a ``sleep infinity`` container in each, one pod after
the other and then all at once; then the memory of one pod's processes (the holder and the
container's PID 1: there is no helper process in between) and what the engine itself grows by
per pod (its per-sandbox thread and bookkeeping). Needs root, or ``--bootstrap`` as a normal user.

``--churn N`` then starts and stops N pods, 10 at a time (sandbox, container, an exec, an exec
that times out, stop, remove), and checks that the engine's fds, threads, children and event
loop registrations are the same afterwards (exit status 1 if not).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path


def memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process in KiB; PSS shares the pages it has in common with others."""
    rss = pss = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    return rss, pss


def own_rss_kib() -> int:
    return memory_kib(int(Path("/proc/self").resolve().name))[0]


async def start_pods(rt: object, n: int, log_dir: Path, concurrent: bool) -> tuple[float, list[str]]:
    from hitless.runtime.cri import ContainerConfig, PodSandboxConfig
    from hitless.runtime.linux import LinuxRuntime

    assert isinstance(rt, LinuxRuntime)

    async def one(i: int) -> str:
        sandbox = await rt.run_pod_sandbox(
            PodSandboxConfig(f"pod-{i}", "bench", f"uid-{i}", f"pod-{i}", log_dir / f"pod-{i}")
        )
        cid = await rt.create_container(
            sandbox, ContainerConfig("sleep", ["sleep", "infinity"], {"PATH": "/usr/bin:/bin"}, "/", 0)
        )
        await rt.start_container(cid)
        return cid

    started = time.perf_counter()
    if concurrent:
        cids = list(await asyncio.gather(*(one(i) for i in range(n))))
    else:
        cids = [await one(i) for i in range(n)]
    return time.perf_counter() - started, cids


async def bench(sizes: list[int]) -> None:
    from hitless.runtime.linux import LinuxRuntime

    print(f"{'pods':>5} {'mode':>10} {'total ms':>9} {'ms/pod':>7} {'stop all ms':>11}")
    memory: list[tuple[int, int, int, int]] = []
    engine_growth: list[float] = []
    for n in sizes:
        for concurrent in (False, True):
            with tempfile.TemporaryDirectory(prefix="hitless-bench-") as tmp:
                rt = LinuxRuntime()
                rss_before = own_rss_kib()
                elapsed, cids = await start_pods(rt, n, Path(tmp), concurrent)
                if concurrent and n == max(sizes):
                    await asyncio.sleep(0.5)  # let the PID 1s settle after exec
                    for cid in cids:
                        c = rt._containers[cid]
                        holder = rt._sandboxes[c.sandbox_id].holder.pid
                        assert c.process is not None
                        memory.append((*memory_kib(holder), *memory_kib(c.process.pid)))
                    engine_growth.append((own_rss_kib() - rss_before) / n)
                    threads = threading.active_count()
                stopped = time.perf_counter()
                await rt.shutdown()
                stop_ms = (time.perf_counter() - stopped) * 1000
            mode = "gather" if concurrent else "sequential"
            print(f"{n:>5} {mode:>10} {elapsed * 1000:>9.1f} {elapsed * 1000 / n:>7.2f} {stop_ms:>11.1f}")
    if memory:
        h_rss, h_pss, c_rss, c_pss = (statistics.median(col) for col in zip(*memory, strict=True))
        print(f"\nper pod, median over {len(memory)} pods (KiB):")
        print(f"  holder (sleep infinity)     RSS {h_rss:>6.0f}  PSS {h_pss:>6.0f}")
        print(f"  container PID 1 (sleep)     RSS {c_rss:>6.0f}  PSS {c_pss:>6.0f}")
        print(f"  processes total             RSS {h_rss + c_rss:>6.0f}  PSS {h_pss + c_pss:>6.0f}")
        print(f"  engine RSS growth per pod   {engine_growth[0]:>10.0f}   ({threads} engine threads)")


def footprint() -> dict[str, int]:
    selector = getattr(asyncio.get_running_loop(), "_selector", None)
    me = int(Path("/proc/self").resolve().name)
    children = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children += int(stat[stat.rindex(")") + 2 :].split()[1]) == me
    return {
        "fds": len(os.listdir("/proc/self/fd")),
        "threads": len(os.listdir("/proc/self/task")),
        "children": children,
        "loop readers": len(selector.get_map()) if selector is not None else 0,
        "tasks": len(asyncio.all_tasks()),
    }


async def churn(n: int, at_once: int = 10) -> bool:
    from hitless.runtime.cri import ContainerConfig, PodSandboxConfig
    from hitless.runtime.linux import LinuxRuntime

    rt = LinuxRuntime()
    env = {"PATH": "/usr/bin:/bin"}
    with tempfile.TemporaryDirectory(prefix="hitless-bench-") as tmp:

        async def one(i: int) -> None:
            sandbox = await rt.run_pod_sandbox(
                PodSandboxConfig(f"churn-{i}", "bench", f"uid-{i}", f"churn-{i}", Path(tmp) / str(i))
            )
            argv = ["sh", "-c", "trap 'exit 0' TERM; sleep infinity & wait"]
            cid = await rt.create_container(sandbox, ContainerConfig("app", argv, env, "/", 0))
            await rt.start_container(cid)
            await rt.exec_sync(cid, ["true"], timeout=5)
            await rt.exec_sync(cid, ["sleep", "10"], timeout=0.05)
            await rt.stop_container(cid, 5)
            await rt.remove_container(cid)
            await rt.remove_pod_sandbox(sandbox)

        try:
            await one(-1)
            await asyncio.sleep(0.2)
            before = footprint()
            started = time.perf_counter()
            for batch in range(0, n, at_once):
                await asyncio.gather(*(one(i) for i in range(batch, min(n, batch + at_once))))
            elapsed = time.perf_counter() - started
            await asyncio.sleep(0.2)
            after = footprint()
        finally:
            await rt.shutdown()
    print(f"\nchurn: {n} pods started and stopped, {at_once} at a time, in {elapsed:.1f} s")
    flat = True
    for key, value in before.items():
        verdict = "ok" if after[key] == value else "LEAK"
        flat &= after[key] == value
        print(f"  {key:<14} before {value:>5}  after {after[key]:>5}  {verdict}")
    return flat


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bootstrap", action="store_true", help="run inside enter_engine_namespaces()")
    parser.add_argument("--sizes", default="1,10,50")
    parser.add_argument("--churn", type=int, default=0, help="then start and stop this many pods")
    args = parser.parse_args()
    if args.bootstrap:
        from hitless.runtime.linux import enter_engine_namespaces

        ns = enter_engine_namespaces()
        print(f"engine in its own PID namespace (user namespace: {ns.user_namespace})")
    asyncio.run(bench([int(s) for s in args.sizes.split(",") if s]))
    if args.churn and not asyncio.run(churn(args.churn)):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
