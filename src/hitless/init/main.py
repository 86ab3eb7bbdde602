"""Entry point of ``hitless init`` (called by the ``hitless`` dispatcher)."""

from __future__ import annotations

import os
import sys

from hitless.init.log import Log
from hitless.init.options import USAGE, UsageError, parse
from hitless.init.spawn import block_signals, set_subreaper
from hitless.init.supervisor import Supervisor


def main(argv: list[str]) -> int:
    """Run ``hitless init``; returns only for --help, --version and usage errors."""
    try:
        opts = parse(argv, os.environ)
    except UsageError as exc:
        sys.stderr.write(f"hitless init: {exc}\n'hitless init --help' for the options.\n")
        return 2
    if opts.show == "help":
        sys.stdout.write(USAGE)
        return 0
    if opts.show == "version":
        from hitless import __version__

        sys.stdout.write(f"hitless init {__version__}\n")
        return 0

    log = Log(opts.verbosity)
    # Before the fork, so that no signal can slip between the child's start and the main loop.
    collected, child_mask = block_signals()
    supervisor = Supervisor(opts, log, collected, child_mask)
    if not supervisor.pid1 and opts.subreaper:
        try:
            set_subreaper()
        except OSError as exc:
            # As tini: the user asked for reaping and would silently not get it.
            sys.stderr.write(f"hitless init: cannot register as a child subreaper: {exc}\n")
            return 1
        supervisor.reaper = True
    if not supervisor.reaper:
        log.warn(
            "not.reaper",
            "not PID 1 and not a child subreaper: orphans are not re-parented to hitless init, so "
            "it can neither reap them nor wait for them; use -s (or TINI_SUBREAPER) or run it as PID 1",
        )
    code = supervisor.run()
    # Exit here rather than return: an init has nothing to clean up, and interpreter
    # finalization would add ~3 ms to every container stop. Only the run path does this;
    # --help, --version and usage errors return to the caller.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
