"""The part of :mod:`signal` the init uses, typed, straight from the C module ``_signal``.

:mod:`signal` wraps ``_signal`` in IntEnums, and ``enum`` is the dearest import on the init's
path: about 5 ms of every container start when nothing else has loaded it (measured with
``python -X importtime`` and ``bench/bench_init.py``). Numbers and names are all the init needs.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # a C module without stubs; typed below

TYPE_CHECKING = False  # mypy treats this name as true; at run time `typing` is never imported
if TYPE_CHECKING:
    from collections.abc import Iterable
    from signal import struct_siginfo as SigInfo

SIGHUP: int = _signal.SIGHUP
SIGINT: int = _signal.SIGINT
SIGQUIT: int = _signal.SIGQUIT
SIGILL: int = _signal.SIGILL
SIGTRAP: int = _signal.SIGTRAP
SIGABRT: int = _signal.SIGABRT
SIGBUS: int = _signal.SIGBUS
SIGFPE: int = _signal.SIGFPE
SIGKILL: int = _signal.SIGKILL
SIGSEGV: int = _signal.SIGSEGV
SIGPIPE: int = _signal.SIGPIPE
SIGTERM: int = _signal.SIGTERM
SIGCHLD: int = _signal.SIGCHLD
SIGSTOP: int = _signal.SIGSTOP
SIGTTIN: int = _signal.SIGTTIN
SIGTTOU: int = _signal.SIGTTOU
SIGXFSZ: int = _signal.SIGXFSZ
SIGSYS: int = _signal.SIGSYS
SIGRTMIN: int = _signal.SIGRTMIN
SIGRTMAX: int = _signal.SIGRTMAX

SIG_DFL: int = _signal.SIG_DFL
SIG_IGN: int = _signal.SIG_IGN
SIG_BLOCK: int = _signal.SIG_BLOCK
SIG_SETMASK: int = _signal.SIG_SETMASK

# Aliases that would otherwise shadow the names kill -l prints.
_ALIASES = {"SIGIOT", "SIGCLD", "SIGPOLL"}
_NAMES: dict[int, str] = {
    value: name
    for name, value in vars(_signal).items()
    if name.startswith("SIG") and not name.startswith("SIG_") and name not in _ALIASES
}


def valid_signals() -> set[int]:
    result: set[int] = _signal.valid_signals()
    return result


def pthread_sigmask(how: int, mask: Iterable[int]) -> set[int]:
    result: set[int] = _signal.pthread_sigmask(how, mask)
    return result


def set_handler(signum: int, handler: int) -> None:
    """Set SIG_DFL or SIG_IGN (the init installs no Python handlers)."""
    _signal.signal(signum, handler)


def sigwaitinfo(sigset: Iterable[int]) -> SigInfo:
    info: SigInfo = _signal.sigwaitinfo(sigset)
    return info


def sigtimedwait(sigset: Iterable[int], timeout: float) -> SigInfo | None:
    info: SigInfo | None = _signal.sigtimedwait(sigset, timeout)
    return info


def name(signum: int) -> str:
    """``SIGTERM``, ``SIGRTMIN+3``: the names kill -l uses."""
    known = _NAMES.get(signum)
    if known is not None:
        return known
    if SIGRTMIN < signum < SIGRTMAX:
        return f"SIGRTMIN+{signum - SIGRTMIN}"
    return f"SIG{signum}"


def parse(text: str) -> int:
    """``TERM``, ``SIGTERM``, ``sigterm``, ``RTMIN+2`` or ``15``; raises ValueError."""
    valid = valid_signals()
    if text.isdigit():
        if int(text) in valid:
            return int(text)
        raise ValueError(f"no such signal: {text}")
    upper = text.upper()
    wanted = upper if upper.startswith("SIG") else "SIG" + upper
    for num in valid:
        if name(num) == wanted:
            return num
    for alias in _ALIASES:  # accepted on input, never printed
        if alias == wanted:
            value: int = getattr(_signal, alias)
            return value
    raise ValueError(f"no such signal: {text}")
