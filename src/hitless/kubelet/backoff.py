"""Exponential back-off per key, as client-go's ``flowcontrol.Backoff`` that the kubelet uses.

Used for crash loops (10 s doubling to 300 s, counted from the container's exit:
``is_in_backoff_since``) and image pulls (the same curve, counted from the last failed pull:
``is_in_backoff_since_update``). The rules that matter: the first restart is immediate (no entry
yet); an entry is "expired" — and the next restart is immediate again with the initial delay —
when the event happened more than ``2 × max`` (600 s) after the entry was last updated, which is
the documented "reset after 10 minutes of running".
Source: staging/src/k8s.io/client-go/util/flowcontrol/backoff.go, pkg/kubelet/kubelet.go.
"""

from __future__ import annotations

from dataclasses import dataclass

from hitless.clock import Clock

INITIAL_CRASHLOOP_BACKOFF = 10.0
MAX_CONTAINER_BACKOFF = 300.0


@dataclass
class _Entry:
    backoff: float
    last_update: float


class Backoff:
    def __init__(
        self, clock: Clock, initial: float = INITIAL_CRASHLOOP_BACKOFF, maximum: float = MAX_CONTAINER_BACKOFF
    ) -> None:
        self._clock = clock
        self.initial = initial
        self.maximum = maximum
        self._entries: dict[object, _Entry] = {}

    def get(self, key: object) -> float:
        entry = self._entries.get(key)
        return entry.backoff if entry else 0.0

    def _expired(self, event_time: float, entry: _Entry) -> bool:
        return event_time - entry.last_update > 2 * self.maximum

    def is_in_backoff_since(self, key: object, event_time: float) -> bool:
        """True while less than the current delay has passed since ``event_time``."""
        entry = self._entries.get(key)
        if entry is None or self._expired(event_time, entry):
            return False
        return self._clock.now() - event_time < entry.backoff

    def is_in_backoff_since_update(self, key: object) -> bool:
        """True while less than the current delay has passed since the entry was last updated."""
        entry = self._entries.get(key)
        now = self._clock.now()
        if entry is None or self._expired(now, entry):
            return False
        return now - entry.last_update < entry.backoff

    def next(self, key: object, event_time: float) -> None:
        """Record a (re)start: start at the initial delay, or double up to the maximum."""
        entry = self._entries.get(key)
        if entry is None or self._expired(event_time, entry):
            self._entries[key] = _Entry(self.initial, self._clock.now())
        else:
            entry.backoff = min(entry.backoff * 2, self.maximum)
            entry.last_update = self._clock.now()

    def gc(self) -> None:
        """Drop the entries that have expired (the kubelet's housekeeping calls backOff.GC)."""
        now = self._clock.now()
        self._entries = {k: e for k, e in self._entries.items() if not self._expired(now, e)}
