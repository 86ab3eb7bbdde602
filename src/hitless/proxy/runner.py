"""``async.BoundedFrequencyRunner`` (pkg/util/async), on the injected clock.

kube-proxy calls ``run()`` for every Service or EndpointSlice change it sees; the sync itself runs
at once when the token bucket (one token per ``min_interval``, ``burst`` of them) has a token, else
when the next token is due, so that changes arriving meanwhile are applied together.
"""

from __future__ import annotations

from collections.abc import Callable

from hitless.clock import Clock, TimerHandle


class BoundedFrequencyRunner:
    def __init__(self, clock: Clock, fn: Callable[[], None], min_interval: float, burst: int = 2) -> None:
        self._clock = clock
        self._fn = fn
        self._min = min_interval
        self._burst = burst
        self._tokens = float(burst)
        self._stamp = clock.now()
        self._timer: TimerHandle | None = None
        self._last_run: float | None = None

    def _refill(self) -> None:
        now = self._clock.now()
        if self._min > 0:
            self._tokens = min(float(self._burst), self._tokens + (now - self._stamp) / self._min)
        else:
            self._tokens = float(self._burst)
        self._stamp = now

    def run(self) -> None:
        """Request a sync; a no-op when one is already scheduled."""
        if self._timer is None:
            self._try()

    def _try(self) -> None:
        self._timer = None
        self._refill()
        if self._tokens >= 1.0 - 1e-9:
            self._tokens -= 1.0
            self._last_run = self._clock.now()
            self._fn()
            return
        wait = (1.0 - self._tokens) * self._min
        self._timer = self._clock.call_later(max(wait, 0.0), self._try)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
