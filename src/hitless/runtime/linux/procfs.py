"""Reading ``/proc`` from the engine: sessions, liveness across pid reuse, capabilities.

The parsing is :mod:`hitless.init.procs`, shared with ``hitless init``: that module has to stay
importable without the runtime's dependencies, so the runtime borrows from it, not the reverse.
"""

from __future__ import annotations

from hitless.init.procs import Proc, descendants, pids, read_proc, scan

# The runtime's name for it; the same class.
ProcStat = Proc

__all__ = [
    "ProcStat",
    "descendants",
    "has_cap_sys_admin",
    "in_session",
    "is_alive",
    "pids",
    "read_stat",
]


def read_stat(pid: int, proc: str = "/proc") -> ProcStat | None:
    """``/proc/<pid>/stat``, or None when the process is gone."""
    return read_proc(pid, proc)


def in_session(session: int, proc: str = "/proc") -> list[ProcStat]:
    """Every live process of a session (which survives re-parenting, unlike the parent link)."""
    return [p for p in scan(proc) if p.session == session and p.state not in "ZX"]


def is_alive(pid: int, starttime: int, proc: str = "/proc") -> bool:
    """Whether that very process (not a later one with the same pid) still exists, zombies excluded."""
    p = read_proc(pid, proc)
    return p is not None and p.starttime == starttime and p.state not in "ZX"


def has_cap_sys_admin() -> bool:
    """Whether this process can create namespaces (CAP_SYS_ADMIN in its user namespace)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) & (1 << 21))
    return False
