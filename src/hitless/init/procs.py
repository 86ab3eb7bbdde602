"""Reading ``/proc/<pid>/stat``, and finding the init's descendants through it.

This is also the parser the engine's runtime uses (``hitless.runtime.linux.procfs`` builds on
it), so that the awkward parts (a ``comm`` holding spaces and parentheses, a racy snapshot) are
handled in one place. It lives here rather than in the runtime because the init must stay
cheap to import: ``hitless.runtime.linux`` pulls in asyncio, and even ``dataclasses`` costs the
init milliseconds on every container start. Hence plain ``os`` and a slotted class.

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
    """One line of /proc/<pid>/stat, the fields anyone here needs.

    Ids are as seen in the PID namespace of the /proc mount that was read.
    """

    __slots__ = ("comm", "pgid", "pid", "ppid", "session", "starttime", "state")

    def __init__(
        self, pid: int, comm: str, state: str, ppid: int, pgid: int, session: int = 0, starttime: int = 0
    ) -> None:
        self.pid = pid
        self.comm = comm
        self.state = state
        self.ppid = ppid
        self.pgid = pgid
        self.session = session
        # Clock ticks after boot: with the pid it names one process, across pid reuse.
        self.starttime = starttime

    def __repr__(self) -> str:
        return f"Proc({self.pid}, {self.comm!r}, {self.state}, ppid={self.ppid}, pgid={self.pgid})"


def parse_stat(text: str) -> Proc:
    """One /proc/<pid>/stat line. ``comm`` may hold spaces and parentheses, hence rindex."""
    open_paren = text.index("(")
    close_paren = text.rindex(")")
    pid = int(text[:open_paren])
    comm = text[open_paren + 1 : close_paren]
    # From the state on: state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
    # cmajflt utime stime cutime cstime priority nice num_threads itrealvalue starttime ...
    fields = text[close_paren + 2 :].split(" ", 20)
    return Proc(pid, comm, fields[0], int(fields[1]), int(fields[2]), int(fields[3]), int(fields[19]))


def read_proc(pid: int, proc: str = "/proc") -> Proc | None:
    """The process, or None when it is gone (or its stat cannot be read)."""
    try:
        with open(f"{proc}/{pid}/stat", encoding="utf-8", errors="replace") as f:
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


def pids(proc: str = "/proc") -> list[int]:
    try:
        names = os.listdir(proc)
    except OSError:
        return []
    return [int(name) for name in names if name.isdigit()]


def scan(proc: str = "/proc") -> list[Proc]:
    """Every process that could be read, at about one instant (not atomically)."""
    found = []
    for pid in pids(proc):
        p = read_proc(pid, proc)
        if p is not None:
            found.append(p)
    return found


def descendants(root: int, procs: list[Proc] | None = None) -> list[Proc]:
    """Every process below ``root`` (not ``root`` itself), parents before their children."""
    children: dict[int, list[Proc]] = {}
    for p in scan() if procs is None else procs:
        children.setdefault(p.ppid, []).append(p)
    found: list[Proc] = []
    frontier = [root]
    seen = {root}
    while frontier:
        parent = frontier.pop(0)
        for p in children.get(parent, ()):
            # A consistent snapshot has no cycles, but a scan is not one: with pid reuse, a
            # process read early can look like the child of one read later. Visit each once.
            if p.pid not in seen:
                seen.add(p.pid)
                found.append(p)
                frontier.append(p.pid)
    return found


def comm_of(pid: int) -> str | None:
    """The command name of a (possibly zombie) process, for logs."""
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as f:
            return f.read().rstrip("\n")
    except OSError:
        return None
