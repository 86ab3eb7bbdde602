"""Process set-up: the signal mask, the child's fork and exec, the subreaper flag."""

from __future__ import annotations

import errno
import os

from hitless.init import sig

# Signals the init never collects with sigwaitinfo. Blocking the synchronous faults is undefined
# behaviour and hides the init's own crashes; KILL and STOP cannot be blocked. TTIN and TTOU are
# ignored instead (as tini does): once the child's group owns the terminal, a log line written
# by the init must not stop it.
_NOT_COLLECTED = {
    sig.SIGFPE,
    sig.SIGILL,
    sig.SIGSEGV,
    sig.SIGBUS,
    sig.SIGABRT,
    sig.SIGTRAP,
    sig.SIGSYS,
    sig.SIGTTIN,
    sig.SIGTTOU,
    sig.SIGKILL,
    sig.SIGSTOP,
}

# Dispositions the child must not inherit: Python ignores PIPE and XFSZ and handles INT, the init
# ignores TTIN and TTOU. exec() resets handlers but keeps "ignore", and a pending INT delivered to
# Python's handler between unblocking and exec() would raise KeyboardInterrupt in the child.
_RESET_IN_CHILD = (sig.SIGINT, sig.SIGPIPE, sig.SIGXFSZ, sig.SIGTTIN, sig.SIGTTOU)

PR_SET_CHILD_SUBREAPER = 36


def block_signals() -> tuple[set[int], set[int]]:
    """Block every signal the init forwards; return (that set, the mask to give the child).

    Blocked rather than handled: sigwaitinfo then takes them one at a time in the main loop, with
    no handler racing it. Blocking also counts for the PID-1 rule: the kernel drops a signal
    sent to a namespace's init only when it is unblocked and has the default disposition.
    """
    collected = sig.valid_signals() - _NOT_COLLECTED
    old_mask = sig.pthread_sigmask(sig.SIG_BLOCK, collected)
    sig.set_handler(sig.SIGTTIN, sig.SIG_IGN)
    sig.set_handler(sig.SIGTTOU, sig.SIG_IGN)
    return collected, old_mask


def spawn(command: list[str], child_mask: set[int]) -> int:
    """Start ``command`` in a process group of its own; return its pid.

    Raises OSError when the command cannot be run (on the posix_spawn path; on the fork path
    the child reports it and exits 127 or 126 itself).
    """
    if not os.isatty(0):
        # No terminal to hand over (the container case): posix_spawn's vfork+exec does all the
        # rest and saves ~1 ms over forking the interpreter.
        return os.posix_spawnp(
            command[0], command, os.environ, setpgroup=0, setsigmask=child_mask, setsigdef=_RESET_IN_CHILD
        )
    # A terminal: fork, because the child must take the foreground (tcsetpgrp) itself before
    # exec; otherwise it could read the terminal and be stopped by SIGTTIN before the init gave
    # it the foreground (tini forks for the same reason).
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child execs or exits, coverage cannot see it
        try:
            _exec_child(command, child_mask)
        finally:
            os._exit(127)
    # The child does this too; doing it here as well means a -g forward right after the fork
    # finds the group. EACCES: the child has exec'd already, so it has set its group itself.
    # (try/except rather than contextlib.suppress throughout: contextlib costs ~1 ms to import.)
    try:  # noqa: SIM105
        os.setpgid(pid, pid)
    except OSError:
        pass
    return pid


def exit_code_for(exc: OSError) -> int:
    """The shell's convention, which tini follows: 127 not found, 126 found but not runnable."""
    return 127 if exc.errno in (errno.ENOENT, errno.ENOTDIR) else 126


def _exec_child(command: list[str], child_mask: set[int]) -> None:  # pragma: no cover
    os.setpgid(0, 0)
    try:  # noqa: SIM105
        os.tcsetpgrp(0, os.getpgrp())
    except OSError:
        # ENOTTY: stdin is no terminal (the normal case in a container); ENXIO: a terminal
        # without a session. Either way there is no foreground to hand over.
        pass
    for signum in _RESET_IN_CHILD:
        sig.set_handler(signum, sig.SIG_DFL)
    sig.pthread_sigmask(sig.SIG_SETMASK, child_mask)
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        os.write(2, f"hitless init: cannot run {command[0]!r}: {exc.strerror}\n".encode())
        os._exit(exit_code_for(exc))


def set_subreaper() -> None:
    """prctl(PR_SET_CHILD_SUBREAPER): orphans below us are re-parented to us, not to PID 1.

    Python has no prctl. The call goes through ``_ctypes``, the C module under :mod:`ctypes`:
    ``import ctypes`` costs ~3 ms of every ``-s`` start (its ``__init__`` builds dozens of
    classes and imports ``struct``), ``_ctypes`` under 1 ms. The few names used here are the
    ones ``ctypes/__init__.py`` itself is built on (``CDLL`` and ``c_int`` are these, dressed up).
    """
    import _ctypes

    class CInt(_ctypes._SimpleCData):  # type: ignore[type-arg]  # ctypes.c_int
        _type_ = "i"

    class CULong(_ctypes._SimpleCData):  # type: ignore[type-arg]  # ctypes.c_ulong
        _type_ = "L"

    class Function(_ctypes.CFuncPtr):  # a function of ctypes.CDLL(None, use_errno=True)
        _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
        _restype_ = CInt

    class Libc:  # what CFuncPtr needs of a CDLL: its dlopen handle (None: the process itself)
        _handle = _ctypes.dlopen(None)  # type: ignore[arg-type]

    prctl = Function(("prctl", Libc()))  # type: ignore[arg-type]
    prctl.argtypes = (CInt, CULong, CULong, CULong, CULong)
    result: int = prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    if result != 0:
        err = _ctypes.get_errno()
        raise OSError(err, os.strerror(err))
