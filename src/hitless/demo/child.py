"""A child process of the demo app, run as ``python -S child.py INDEX CLEANUP PARENT_PID ORIGIN``.

It stands for the worker or helper process of a real app: it logs when SIGTERM reaches it and
takes CLEANUP seconds to shut down cleanly, so a log shows whether its parent (PID 1 of the
container) forwarded the signal and waited, or exited and left the kernel to SIGKILL it.

Run as a script, with the standard library only, to start fast and not load the package.
"""

from __future__ import annotations

import os
import signal
import sys
import time


def _say(origin: float, message: str) -> None:
    # The same line format as the app's log (hitless/demo/log.py), with the app's start as the
    # origin: CLOCK_MONOTONIC is system-wide, so parent and child lines interleave in order.
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
    try:
        sys.stdout.write(f"{stamp} +{time.monotonic() - origin:.3f}s {message}\n")
        sys.stdout.flush()
    except (OSError, ValueError, AttributeError):
        pass  # nobody reads our output any more: the clean shutdown goes on regardless


def _die_with_parent(parent: int) -> None:
    """SIGKILL this process when its parent exits, as the kernel does when PID 1 of a PID namespace
    exits: the fate of a child that was not stopped, also when the app is not in a namespace of its
    own, and no child outlives a test."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the prctl took effect
        os._exit(137)


def main(argv: list[str]) -> int:
    index, cleanup, parent, origin = int(argv[0]), float(argv[1]), int(argv[2]), float(argv[3])
    _die_with_parent(parent)
    # Blocked and then waited for, rather than handled: no race between a check and a pause.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    # A Ctrl-C in a terminal reaches the whole process group; the parent decides for its children.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _say(origin, f"child {index}: started (pid {os.getpid()})")
    signal.sigwait({signal.SIGTERM})
    _say(origin, f"child {index}: got SIGTERM, cleaning up ({cleanup:g}s)")
    time.sleep(cleanup)
    _say(origin, f"child {index}: clean shutdown done")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
