"""Putting the engine in a PID namespace of its own, so that nothing it starts can outlive it.

Three processes, all forks of the one the user started::

    P  the process the user started; stays in the user's PID namespace. It forwards SIGINT,
       SIGTERM, SIGHUP and SIGQUIT to I, waits for I, and exits with its status.
    └─ I  PID 1 of a new PID namespace (with a private mount namespace and its own /proc).
          Dies with P (PR_SET_PDEATHSIG=SIGKILL). Forwards those signals to E, reaps every
          orphan of the namespace, and exits with E's status when E ends.
       └─ E  the engine: ``enter_engine_namespaces()`` returns here, and only here.

Every container lives in a PID namespace below I's, and when PID 1 of a PID namespace dies
the kernel SIGKILLs every process in it and in the namespaces below. So ``kill -9 P`` (I gets
its death signal), ``kill -9 I`` and ``kill -9 E`` (I exits) all tear the whole tree down.

Why I and E are separate: the reaper of a PID namespace must collect *any* exited orphan,
which in the engine would race with asyncio and the runtime, which wait for specific children.
Keeping PID 1 a tiny loop that owns no one else's exit status removes the race; it also spares
the engine the PID-1 rule that drops signals without a handler.

As a normal user, P first creates a user namespace in which it is root: that is what makes the
other namespaces possible without privileges. Files the engine creates belong to the user. The
map is the user's subordinate ranges through ``newuidmap``/``newgidmap`` when the user has them
(subids.py: images' other ids then exist); otherwise only the user's own uid and gid, with
``setgroups`` denied.

Signals: the forwarded ones are blocked across each fork and unblocked only once the process
knows where they go (P: to I; I: to E; E: its own default actions), so one that arrives while
the tree is being built waits in the kernel's queue rather than being lost or sent twice.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from hitless.runtime.cri import RuntimeError_
from hitless.runtime.linux import subids, syscalls

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


class NamespacesUnavailable(RuntimeError_):
    """This machine (or this user) cannot create the namespaces hitless needs."""


@dataclass(frozen=True)
class EngineNamespaces:
    # True when the engine is root of a user namespace (started by a normal user).
    user_namespace: bool
    # The process the user started (P), as the user's tools see it: the pid to signal.
    outer_pid: int
    # The user's uid and gid outside, which own whatever the engine creates.
    outer_uid: int
    outer_gid: int
    # In a user namespace: how many ids it maps, 0 to N-1 (1: only the user's own, as 0, and
    # setgroups is denied; more: a subordinate range, subids.py). None: not in one.
    mapped_ids: int | None = None


_current: EngineNamespaces | None = None
_forward_to: int | None = None


def current() -> EngineNamespaces | None:
    """The namespaces ``enter_engine_namespaces`` set up in this process, if it did."""
    return _current


def _forward(signum: int, _frame: object) -> None:
    # Only ever unblocked once _forward_to is set; the check is for safety's sake.
    if _forward_to is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(_forward_to, signum)


def _forward_signals_to(pid: int) -> None:
    global _forward_to
    _forward_to = pid
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)


def _thread_count() -> int:
    """Threads of this process, Python's or not (a C library's threads count too)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def _sysctl(name: str) -> str | None:
    try:
        return Path("/proc/sys", *name.split(".")).read_text().strip()
    except OSError:
        return None


def advice(detail: str) -> str:
    settings = [
        f"{name} = {value}"
        for name in (
            "kernel.unprivileged_userns_clone",
            "kernel.apparmor_restrict_unprivileged_userns",
            "user.max_user_namespaces",
        )
        if (value := _sysctl(name)) is not None
    ]
    found = f" (this machine: {', '.join(settings)})" if settings else ""
    return (
        f"hitless cannot create the Linux namespaces it runs pods in: {detail}.\n"
        "The engine needs a PID namespace of its own (so that no process outlives it) and each pod\n"
        "network, UTS, IPC and PID namespaces; a normal user gets them through a user namespace.\n"
        "Do one of:\n"
        "  - run hitless as root (sudo), or\n"
        f"  - allow unprivileged user namespaces{found}:\n"
        "      Debian, Ubuntu < 23.10:  sudo sysctl -w kernel.unprivileged_userns_clone=1\n"
        "      Ubuntu >= 23.10 (AppArmor): sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0\n"
        "                               (or an AppArmor profile for hitless with the 'userns,' rule)\n"
        "      RHEL, CentOS, Fedora:    sudo sysctl -w user.max_user_namespaces=15000\n"
        "    and make it permanent in /etc/sysctl.d/, or\n"
        "  - inside a container: run it with --privileged (Docker's default seccomp and AppArmor\n"
        "    profiles forbid namespaces).\n"
        "There is no mode without namespaces: replicas could not share a port and processes could\n"
        "outlive the engine, so a rollout's verdict would not mean what it says."
    )


def _enter_pid_namespace(uid: int, gid: int) -> int | None:
    """In P: unshare a PID namespace (for P's next child), through a user namespace if need be.
    Returns None without a user namespace, else how many ids it maps (0..N-1): 1 when only the
    user's own are, 1 + the subordinate range's size when newuidmap/newgidmap mapped one."""
    first_error: OSError | None = None
    if uid == 0:
        try:
            syscalls.unshare(syscalls.CLONE_NEWPID)
            return None
        except OSError as exc:
            first_error = exc  # root without CAP_SYS_ADMIN (a container): try a user namespace
    helper = subids.MapHelper.start(uid, gid)
    try:
        syscalls.unshare(syscalls.CLONE_NEWUSER | syscalls.CLONE_NEWPID)
    except OSError as exc:
        if helper is not None:
            helper.finish(unshared=False)
        raise NamespacesUnavailable(advice(str(first_error or exc))) from exc
    mapped = helper.finish(unshared=True) if helper is not None else subids.MAPPED_NONE
    if mapped == subids.MAPPED_BOTH:
        assert helper is not None
        return 1 + helper.count
    try:
        # Only the user's own ids, as any process may map them for itself (setgroups denied).
        with contextlib.suppress(FileNotFoundError):
            Path("/proc/self/setgroups").write_text("deny")
        if mapped == subids.MAPPED_NONE:
            Path("/proc/self/uid_map").write_text(f"0 {uid} 1")
        Path("/proc/self/gid_map").write_text(f"0 {gid} 1")
    except OSError as exc:
        raise NamespacesUnavailable(advice(f"user namespace id mapping: {exc}")) from exc
    return 1


def enter_engine_namespaces() -> EngineNamespaces:
    """Make the rest of this program run as the engine E described above.

    Call it first thing, before any thread is started (user namespaces require a single-threaded
    caller). Returns in E only; P and I end with ``os._exit`` and never return. Raises
    :class:`NamespacesUnavailable` (in the caller's process, before anything was started) when
    the namespaces cannot be created. Calling it again in E returns the same value.

    In E, SIGINT raises KeyboardInterrupt and SIGTERM/SIGHUP/SIGQUIT have their default actions,
    as in any program: the CLI installs its own handlers for a graceful stop. Since I reaps
    orphans, asyncio's PidfdChildWatcher is installed for the engine (no thread per child).
    """
    global _current
    if _current is not None:
        return _current
    threads = _thread_count()
    if threads > 1:
        # unshare(CLONE_NEWUSER) refuses a multi-threaded caller (EINVAL), and forking one is
        # unsafe anyway (another thread may hold a lock the child will never see released).
        raise RuntimeError_(
            "enter_engine_namespaces() must be called before any thread is started "
            f"(this process has {threads})"
        )
    uid, gid, outer_pid = os.geteuid(), os.getegid(), os.getpid()
    ids = _enter_pid_namespace(uid, gid)
    engine = EngineNamespaces(ids is not None, outer_pid, uid, gid, ids)

    sys.stdout.flush()
    sys.stderr.flush()
    # alive: P holds the write end, so I can tell whether P died before its death signal was
    # armed. report: I tells P that setting up failed (the message) or succeeded (EOF).
    alive_r, alive_w = os.pipe()
    report_r, report_w = os.pipe()
    # Installed before the fork so that I never runs without a handler: as PID 1 it would drop
    # a signal it has no handler for (blocked ones wait, whatever the handler).
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
    old_handlers = {sig: signal.signal(sig, _forward) for sig in FORWARDED}
    try:
        init_pid = os.fork()
    except OSError as exc:
        for sig, handler in old_handlers.items():
            signal.signal(sig, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        for fd in (alive_r, alive_w, report_r, report_w):
            os.close(fd)
        raise NamespacesUnavailable(f"cannot start the engine's init process: {exc}") from exc
    if init_pid == 0:
        os.close(alive_w)
        os.close(report_r)
        _init(alive_r, report_w)  # returns in E only
        _current = engine
        _become_engine(old_mask)
        return engine
    os.close(alive_r)
    os.close(report_w)
    _outer(init_pid, report_r)


def _outer(init_pid: int, report_r: int) -> NoReturn:
    """P: relay signals to I, then mirror I's end."""
    _forward_signals_to(init_pid)
    with os.fdopen(report_r, "rb") as report:
        failure = report.read()
    _, status = os.waitpid(init_pid, 0)
    if failure:
        # Nothing was started; let the caller report it, still in the user's process. (Which
        # cannot start children any more: the PID namespace its next fork would go to has
        # lost its init. Report and exit.)
        for sig in FORWARDED:
            signal.signal(sig, signal.SIG_DFL if sig != signal.SIGINT else signal.default_int_handler)
        raise NamespacesUnavailable(advice(failure.decode(errors="replace")))
    sys.stdout.flush()
    sys.stderr.flush()
    if os.WIFSIGNALED(status):
        # Die of the same signal, so that a shell shows "Killed" and parents see the truth.
        death = os.WTERMSIG(status)
        if death != signal.SIGKILL:  # (its action cannot be set, and needs not be)
            signal.signal(death, signal.SIG_DFL)
        os.kill(os.getpid(), death)
        os._exit(128 + death)
    os._exit(os.waitstatus_to_exitcode(status))


def _init(alive_r: int, report_w: int) -> None:
    """I, PID 1 of the new namespace. Returns only in the forked engine E."""
    try:
        syscalls.set_parent_death_signal(signal.SIGKILL)
        # If P died before the line above, no death signal will come: its pipe end is closed.
        if select.select([alive_r], [], [], 0)[0]:
            os._exit(1)
        # Out of the terminal's foreground group: Ctrl-C reaches P, which forwards it once.
        os.setpgid(0, 0)
        syscalls.unshare(syscalls.CLONE_NEWNS)
        syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)
        syscalls.mount("proc", "/proc", "proc", syscalls.MS_NOSUID | syscalls.MS_NODEV | syscalls.MS_NOEXEC)
        engine_pid = os.fork()
    except OSError as exc:
        os.write(report_w, str(exc).encode())
        os._exit(1)
    except BaseException:
        os._exit(1)
    if engine_pid == 0:
        os.close(alive_r)
        os.close(report_w)
        return
    os.close(report_w)
    try:
        _forward_signals_to(engine_pid)
        while True:
            pid, status = os.waitpid(-1, 0)
            if pid == engine_pid:
                code = os.waitstatus_to_exitcode(status)
                os._exit(128 - code if code < 0 else code)
    finally:
        os._exit(1)


def _become_engine(mask: set[int | signal.Signals]) -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_DFL)
    # The caller's own mask again (every process the engine starts inherits it): what I
    # forwarded since the fork is delivered now, with the engine's dispositions. A Ctrl-C
    # during start-up is a KeyboardInterrupt right here.
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    if sys.version_info < (3, 12):
        import asyncio

        asyncio.set_child_watcher(asyncio.PidfdChildWatcher())
