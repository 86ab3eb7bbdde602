"""Reading ``/proc``: process parentage, sessions and liveness, as seen from the engine."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class ProcStat:
    pid: int
    comm: str
    state: str
    ppid: int
    pgrp: int
    session: int
    # Clock ticks since boot: together with the pid it names one process, across pid reuse.
    starttime: int


def read_stat(pid: int, proc: str = "/proc") -> ProcStat | None:
    """``/proc/<pid>/stat``, or None when the process is gone."""
    try:
        with open(f"{proc}/{pid}/stat", "rb") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm is in parentheses and may itself contain spaces and parentheses: split at the last ')'.
    lpar, rpar = raw.index(b"("), raw.rindex(b")")
    fields = raw[rpar + 2 :].split()
    return ProcStat(
        pid=pid,
        comm=raw[lpar + 1 : rpar].decode(errors="replace"),
        state=fields[0].decode(),
        ppid=int(fields[1]),
        pgrp=int(fields[2]),
        session=int(fields[3]),
        starttime=int(fields[19]),
    )


def pids(proc: str = "/proc") -> list[int]:
    return [int(name) for name in os.listdir(proc) if name.isdigit()]


def iter_stats(proc: str = "/proc") -> Iterator[ProcStat]:
    for pid in pids(proc):
        st = read_stat(pid, proc)
        if st is not None:
            yield st


def in_session(session: int, proc: str = "/proc") -> list[ProcStat]:
    """Every live process of a session (which survives re-parenting, unlike the parent link)."""
    return [st for st in iter_stats(proc) if st.session == session and st.state != "Z"]


def descendants(root: int, proc: str = "/proc") -> list[ProcStat]:
    """Every live descendant of ``root`` (not ``root`` itself), by parent links."""
    children: dict[int, list[ProcStat]] = {}
    for st in iter_stats(proc):
        children.setdefault(st.ppid, []).append(st)
    found: list[ProcStat] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child.pid)
    return found


def is_alive(pid: int, starttime: int, proc: str = "/proc") -> bool:
    """Whether that very process (not a later one with the same pid) still exists, zombies excluded."""
    st = read_stat(pid, proc)
    return st is not None and st.starttime == starttime and st.state != "Z"


def has_cap_sys_admin() -> bool:
    """Whether this process can create namespaces (CAP_SYS_ADMIN in its user namespace)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) & (1 << 21))
    return False
