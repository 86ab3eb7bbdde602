"""Finding the init's descendants through /proc.

Descendants are found by walking parent links (``ppid`` in /proc/<pid>/stat) down from the init,
not by process group or session: a process that calls ``setsid()`` or ``setpgid()`` leaves the
child's group (dumb-init #191) but not the tree. Because the init is PID 1 or a child subreaper,
a descendant whose parent dies is re-parented to the init rather than escaping to the host's
init, so the walk sees every descendant, double-forked daemons included.

The walk is only needed to *signal* descendants. Knowing when they are all gone needs no /proc:
a PID 1 or subreaper has no descendants exactly when ``waitid`` says it has no children.
"""

from __future__ import annotations

import os


class Proc:
    __slots__ = ("comm", "pgid", "pid", "ppid", "state")

    def __init__(self, pid: int, comm: str, state: str, ppid: int, pgid: int) -> None:
        self.pid = pid
        self.comm = comm
        self.state = state
        self.ppid = ppid
        self.pgid = pgid

    def __repr__(self) -> str:
        return f"Proc({self.pid}, {self.comm!r}, {self.state}, ppid={self.ppid}, pgid={self.pgid})"


def parse_stat(text: str) -> Proc:
    """One /proc/<pid>/stat line. ``comm`` may hold spaces and parentheses, hence rfind."""
    open_paren = text.index("(")
    close_paren = text.rindex(")")
    pid = int(text[:open_paren])
    comm = text[open_paren + 1 : close_paren]
    fields = text[close_paren + 2 :].split(" ", 3)
    return Proc(pid, comm, fields[0], int(fields[1]), int(fields[2]))


def read_proc(pid: int) -> Proc | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as f:
            return parse_stat(f.read())
    except (OSError, ValueError, IndexError):
        return None


def proc_is_ours() -> bool:
    """Whether /proc shows our PID namespace.

    ``unshare --pid --fork`` without ``--mount-proc`` (or a container without its own /proc)
    leaves the host's /proc in place, where PID 1 is somebody else: walking it would find the
    wrong tree.
    """
    try:
        return os.readlink("/proc/self") == str(os.getpid())
    except OSError:
        return False


def scan() -> list[Proc]:
    procs = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    for name in names:
        if name.isdigit():
            proc = read_proc(int(name))
            if proc is not None:
                procs.append(proc)
    return procs


def descendants(root: int, procs: list[Proc] | None = None) -> list[Proc]:
    """Every process below ``root``, parents before their children."""
    children: dict[int, list[Proc]] = {}
    for proc in scan() if procs is None else procs:
        children.setdefault(proc.ppid, []).append(proc)
    found: list[Proc] = []
    frontier = [root]
    seen = {root}
    while frontier:
        parent = frontier.pop(0)
        for proc in children.get(parent, ()):
            # PID 1 of a namespace shows ppid 0, and pid 0 is nobody's child: no cycles are
            # possible in a consistent snapshot, but a racy one could repeat a pid.
            if proc.pid not in seen:
                seen.add(proc.pid)
                found.append(proc)
                frontier.append(proc.pid)
    return found


def comm_of(pid: int) -> str | None:
    """The command name of a (possibly zombie) process, for logs."""
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as f:
            return f.read().rstrip("\n")
    except OSError:
        return None
