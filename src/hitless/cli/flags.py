"""Flag values checked before anything runs: each wrong one is a usage error (exit 2) naming it.

argparse's ``type=float`` accepts ``nan``, ``inf`` and ``-1``; a NaN compares false with every
bound, so a check written ``if delay < 0`` lets it through and the run then computes with it.
The types here refuse what a bound cannot (NaN, the infinities) and state the range in the error.

Maxima, each with its reason (docs/reliability.md):

- ``--nodes`` at most ``MAX_NODES`` (254): node N listens on 127.0.1.N (``engine.node_address``),
  one /24 block of loopback addresses, .0 and .255 left out.
- ``--rps`` at most ``MAX_RPS`` (5,000): the load generator is one event loop; past a few thousand
  requests a second on one core it falls behind its own schedule (``bench/bench_generator.py``
  achieved 3,150/s of 5,000 on a loaded 2-CPU machine), and a run whose load arrives late measures
  hitless, not the rollout.
"""

from __future__ import annotations

import argparse
import math
import os

MAX_NODES = 254
MAX_RPS = 5000.0


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def seconds(text: str) -> float:
    """A duration of 0 s or more."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds (got {text})")
    return value


def positive_seconds(text: str) -> float:
    """A duration greater than 0 s."""
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds (got {text})")
    return value


def rps(text: str) -> float:
    value = _number(text)
    if not 0 < value <= MAX_RPS:
        raise argparse.ArgumentTypeError(
            f"must be more than 0 and at most {MAX_RPS:g} requests per second (got {text}): "
            "beyond that the load generator falls behind its own schedule"
        )
    return value


def nodes(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= MAX_NODES:
        raise argparse.ArgumentTypeError(
            f"must be 1 to {MAX_NODES} (got {text}): node N listens on 127.0.1.N, one block of addresses"
        )
    return value


def writable_dir_error(flag: str, name: str) -> str | None:
    """Create the directory ``name`` if needed and make sure it takes files now, not after a run;
    the reason when it cannot (a file in the way, no permission, a name too long or with a NUL)."""
    import tempfile  # only when the flag is given: `hitless check` starts without it

    try:
        if os.path.exists(name) and not os.path.isdir(name):
            return f"{flag} {name}: Not a directory"
        os.makedirs(name, exist_ok=True)
        with tempfile.TemporaryFile(dir=name):
            pass
    except OSError as exc:
        return f"{flag} {name}: {exc.strerror or exc}"
    except ValueError:  # a NUL byte: no system call takes it
        return f"{flag} {name!r}: a path cannot hold a NUL byte"
    return None
