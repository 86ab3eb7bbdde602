"""``hitless demo-app``'s entry point: parse the flags, then run; see docs/demo-app.md.

This module imports no asyncio: ``main`` must keep TLS out of the process before asyncio loads.
"""

from __future__ import annotations

import io
import os
import sys
import time

from hitless.demo.log import set_origin
from hitless.demo.options import parse_options


def process_start() -> float:
    """The CLOCK_MONOTONIC time at which this process started.

    Health schedules count from process start, as the kubelet's probe delays count from container
    start; the interpreter's own start-up (tens of ms, more on a loaded machine) must not shift them.
    """
    now = time.monotonic()
    try:
        with open("/proc/self/stat", "rb") as f:
            stat = f.read()
        # The command name (field 2) may contain spaces and ')': count the fields after its last ')'.
        start_ticks = int(stat[stat.rindex(b")") + 2 :].split()[19])  # field 22, starttime
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return now
    return now - age if 0 <= age < 60 else now


def keep_tls_out() -> None:
    """Make ``import ssl`` fail in this process, which must not have imported asyncio yet.

    asyncio imports ssl only for TLS and takes an ImportError to mean "no TLS". Unless a --tls-port
    is asked for, the demo app serves plain HTTP, and ssl with OpenSSL costs about a sixth of the
    start-up time and 4-5 MiB of resident memory, in every one of the dozens of containers a
    benchmark starts.
    """
    if "ssl" not in sys.modules:
        sys.modules["ssl"] = None  # type: ignore[assignment]


def main(argv: list[str]) -> int:
    origin = process_start()
    set_origin(origin)
    opts = parse_options(argv)
    if isinstance(sys.stdout, io.TextIOWrapper):
        # stdout is a pipe to the engine's log collector: a line must leave when it is written,
        # not when a 8 KiB buffer fills or the process exits.
        sys.stdout.reconfigure(line_buffering=True)
    if not opts.tls_ports:
        keep_tls_out()  # a TLS port has loaded ssl already, to read its certificate
    from hitless.demo.lifecycle import run

    return run(opts, origin)
