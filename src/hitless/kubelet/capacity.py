"""How many pods a node takes: the kubelet's ``maxPods``, capped by what this machine can run.

A node reports ``status.capacity`` and ``status.allocatable`` ``pods`` (the kubelet's
``--max-pods``, 110 by default), and the scheduler's NodeResourcesFit filter keeps a node from
being given more ("Too many pods"). Here every node shares one machine, so ``replicas: 5000``
would otherwise start processes until the engine runs out of file descriptors or the kernel out
of PIDs, and fail in ways that say nothing about the manifests. So each node's allocatable pods
is also capped by this machine's share: the engine's open-file limit, the PIDs the kernel and the
cgroup still allow, and the memory available, each divided by what one pod costs. What does not
fit stays Pending, with the scheduler's ``FailedScheduling`` Event, as on a full cluster.
"""

from __future__ import annotations

import contextlib
import os
import resource
from dataclasses import dataclass
from pathlib import Path

# The kubelet's --max-pods default (pkg/kubelet/apis/config/v1beta1/defaults.go, MaxPods).
MAX_PODS = 110
# What one pod with one container costs, measured on `hitless up` (docs/reliability.md): the
# engine's descriptors (container pipes, pidfds, the sandbox's namespace and holder, a probe's
# socket), processes and threads (the sandbox thread, its holder, the container's PID 1 and an
# init or exec helper), and memory (a small app's resident set; hitless's own demo-app: ~20 MiB).
FDS_PER_POD = 16
PIDS_PER_POD = 6
MEMORY_PER_POD = 24 * 1024 * 1024
# Kept for the engine itself: its own descriptors, threads and memory.
FDS_RESERVED = 256
PIDS_RESERVED = 64


@dataclass(frozen=True)
class MachineBudget:
    pods: int
    # What limits it, in words: "RLIMIT_NOFILE 1024 (16 descriptors a pod)".
    limit: str


def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _pids_left() -> tuple[int, str] | None:
    candidates: list[tuple[int, str]] = []
    threads = len(os.listdir("/proc")) if os.path.isdir("/proc") else 0
    if (pid_max := _read_int("/proc/sys/kernel/pid_max")) is not None:
        candidates.append((pid_max - threads, f"kernel.pid_max {pid_max}"))
    if (threads_max := _read_int("/proc/sys/kernel/threads-max")) is not None:
        candidates.append((threads_max - threads, f"kernel.threads-max {threads_max}"))
    limit = _read_int("/sys/fs/cgroup/pids.max")
    current = _read_int("/sys/fs/cgroup/pids.current")
    if limit is not None and current is not None:
        candidates.append((limit - current, f"the cgroup's pids.max {limit}"))
    soft, _ = resource.getrlimit(resource.RLIMIT_NPROC)
    if soft != resource.RLIM_INFINITY and os.geteuid() != 0:
        candidates.append((soft - threads, f"RLIMIT_NPROC {soft}"))
    return min(candidates) if candidates else None


def _memory_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def raise_open_file_limit() -> None:
    """The soft RLIMIT_NOFILE up to the hard one, as Go programs (the kubelet, containerd) do at
    start: 1024, many shells' soft limit, is what some 60 pods take."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(OSError, ValueError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def machine_budget() -> MachineBudget:
    """How many pods this machine can run at once, and what bounds it."""
    budgets: list[tuple[int, str]] = []
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY:
        budgets.append(((soft - FDS_RESERVED) // FDS_PER_POD, f"RLIMIT_NOFILE {soft} ({FDS_PER_POD} a pod)"))
    if (pids := _pids_left()) is not None:
        left, what = pids
        budgets.append(((left - PIDS_RESERVED) // PIDS_PER_POD, f"{what} ({PIDS_PER_POD} a pod)"))
    if (memory := _memory_available()) is not None:
        budgets.append(
            (memory // MEMORY_PER_POD, f"{memory >> 20} MiB available ({MEMORY_PER_POD >> 20} MiB a pod)")
        )
    if not budgets:
        return MachineBudget(10_000, "no limit found")
    pods, limit = min(budgets)
    return MachineBudget(max(pods, 1), limit)


def node_max_pods(nodes: int, budget: MachineBudget | None = None) -> int:
    """Each node's allocatable pods: the kubelet's default, or its share of the machine."""
    budget = budget or machine_budget()
    return max(1, min(MAX_PODS, budget.pods // max(nodes, 1)))
