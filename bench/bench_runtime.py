"""How long the Linux runtime takes to start pods, and what a pod costs in memory.

    python bench/bench_runtime.py [--bootstrap] [--sizes 1,10,50]

For each size N: run N sandboxes and start a ``sleep infinity`` container in each, one pod after
the other and then all at once; then the memory of one pod's processes (the holder and the
container's PID 1: there is no helper process in between) and what the engine itself grows by
per pod (its per-sandbox thread and bookkeeping). Needs root, or ``--bootstrap`` as a normal user.
"""

from __future__ import annotations

import argparse
import asyncio
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


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bootstrap", action="store_true", help="run inside enter_engine_namespaces()")
    parser.add_argument("--sizes", default="1,10,50")
    args = parser.parse_args()
    if args.bootstrap:
        from hitless.runtime.linux import enter_engine_namespaces

        ns = enter_engine_namespaces()
        print(f"engine in its own PID namespace (user namespace: {ns.user_namespace})")
    asyncio.run(bench([int(s) for s in args.sizes.split(",")]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
