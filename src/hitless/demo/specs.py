"""The small languages of the flags: durations, health schedules and latencies.

Parsers raise ValueError with a message meant for the user; argparse shows it next to the flag.
Plain classes rather than dataclasses: a dataclass costs a code generation at import, paid at
every start of every container.
"""

from __future__ import annotations

import math

OK, FAIL, HANG = "ok", "fail", "hang"
HEALTH_STATES = (OK, FAIL, HANG)

HEALTH_GRAMMAR = """\
SPEC is one of:
  ok | fail | hang          always that state
  fail-after:N              ok, then fail from N s on         (also hang-after:N)
  ok-after:N                fail until N s, then ok            (a slow warm-up)
  fail-for:D[@M]            ok, but fail from M s for D s      (also hang-for:D[@M]; M defaults to 0)
Times count from process start (the startup delay included) and accept s or ms suffixes."""


def parse_duration(text: str) -> float:
    """Seconds, as ``1.5``, ``1.5s`` or ``200ms``: k6 and Kubernetes users write units."""
    raw = text.strip()
    scale = 1.0
    if raw.endswith("ms"):
        raw, scale = raw[:-2], 0.001
    elif raw.endswith("s"):
        raw = raw[:-1]
    try:
        value = float(raw) * scale
    except ValueError:
        raise ValueError(f"not a duration: {text!r} (write seconds like 1.5, 1.5s or 200ms)") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"not a duration: {text!r} (must be a finite number >= 0)")
    return value


class HealthSpec:
    """A health endpoint's answer as a function of the time since process start.

    ``initial`` holds everywhere except in the window ``[start, end)``, where ``inside`` holds;
    every form of the grammar is one window over one default state.
    """

    __slots__ = ("end", "initial", "inside", "start", "text")

    def __init__(
        self, text: str, initial: str, inside: str = OK, start: float = math.inf, end: float = math.inf
    ) -> None:
        self.text, self.initial, self.inside, self.start, self.end = text, initial, inside, start, end

    def state_at(self, seconds: float) -> str:
        return self.inside if self.start <= seconds < self.end else self.initial


def parse_health(text: str) -> HealthSpec:
    spec = text.strip()
    if spec in HEALTH_STATES:
        return HealthSpec(spec, initial=spec)
    kind, sep, arg = spec.partition(":")
    if not sep:
        raise ValueError(f"unknown health spec {text!r}\n{HEALTH_GRAMMAR}")
    if kind in ("fail-after", "hang-after"):
        return HealthSpec(spec, initial=OK, inside=kind.split("-")[0], start=parse_duration(arg))
    if kind == "ok-after":
        return HealthSpec(spec, initial=OK, inside=FAIL, start=0.0, end=parse_duration(arg))
    if kind in ("fail-for", "hang-for"):
        length, _, at = arg.partition("@")
        start = parse_duration(at) if at else 0.0
        return HealthSpec(
            spec, initial=OK, inside=kind.split("-")[0], start=start, end=start + parse_duration(length)
        )
    raise ValueError(f"unknown health spec {text!r}\n{HEALTH_GRAMMAR}")


class Latency:
    """A fixed delay, or a uniform distribution between ``low`` and ``high`` seconds."""

    __slots__ = ("high", "low")

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high

    def sample(self) -> float:
        if self.high <= self.low:
            return self.low
        # Imported here: only a latency range needs it, and every import is paid at each start.
        import random

        return random.uniform(self.low, self.high)

    def __str__(self) -> str:
        return f"{self.low:g}" if self.high <= self.low else f"{self.low:g}:{self.high:g}"


def parse_latency(text: str) -> Latency:
    low_text, sep, high_text = text.partition(":")
    low = parse_duration(low_text)
    high = parse_duration(high_text) if sep else low
    if high < low:
        raise ValueError(f"latency range {text!r} has its upper bound below its lower bound")
    return Latency(low, high)
