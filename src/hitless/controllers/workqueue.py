"""client-go's rate-limited work queue, in miniature, and the list-and-watch loop around it.

A key is queued at most once however many events name it, keys are processed one at a time in
the order they were queued (one worker: the controller-manager runs several, but a single worker
keeps a rollout's steps in a deterministic order), a key can be queued after a delay
(``AddAfter``), and a sync that raises is retried with per-key exponential back-off from 5 ms
(``DefaultControllerRateLimiter``'s item limiter) until it succeeds (``Forget``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

from hitless.clock import Clock, TimerHandle
from hitless.store.store import Store, WatchEvent
from hitless.tasks import cancel_and_wait, spawn

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)

BASE_DELAY = 0.005
MAX_DELAY = 1000.0


class WorkQueue(Generic[K]):
    def __init__(
        self,
        clock: Clock,
        name: str,
        sync: Callable[[K], None],
        priority: Callable[[K], int] | None = None,
    ) -> None:
        self._clock = clock
        self._name = name
        self._sync = sync
        # Among queued keys, the lowest priority goes first (then the order they came in).
        self._priority = priority
        self._order: list[K] = []
        self._queued: set[K] = set()
        self._wake = asyncio.Event()
        self._timers: set[TimerHandle] = set()
        self._failures: dict[K, int] = {}

    def add(self, key: K) -> None:
        if key in self._queued:
            return
        self._queued.add(key)
        self._order.append(key)
        self._wake.set()

    def add_after(self, key: K, seconds: float) -> None:
        timers: list[TimerHandle] = []

        def fire() -> None:
            for timer in timers:
                self._timers.discard(timer)
            self.add(key)

        timers.append(self._clock.call_later(seconds, fire))
        self._timers.add(timers[0])

    def add_rate_limited(self, key: K) -> None:
        n = self._failures.get(key, 0)
        self._failures[key] = n + 1
        self.add_after(key, min(BASE_DELAY * 2**n, MAX_DELAY))

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)

    def __len__(self) -> int:
        return len(self._order)

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._order:
                key = self._order.pop(self._next_index())
                self._queued.discard(key)
                try:
                    self._sync(key)
                except Exception:
                    log.exception("%s: error syncing %s; retrying", self._name, key)
                    self.add_rate_limited(key)
                else:
                    self.forget(key)
                # Let watchers and other controllers see what this sync wrote.
                await asyncio.sleep(0)

    def _next_index(self) -> int:
        if self._priority is None or len(self._order) == 1:
            return 0
        priorities = [self._priority(k) for k in self._order]
        return priorities.index(min(priorities))

    def shutdown(self) -> None:
        for timer in list(self._timers):
            timer.cancel()
        self._timers.clear()


class Controller:
    """A watch over some kinds feeding a handler, and a work queue running the syncs."""

    # Names the controller's tasks to the run's supervisor (hitless.tasks).
    component = "controller"

    def __init__(self, store: Store, kinds: Iterable[str]) -> None:
        self._store = store
        self._kinds = list(kinds)
        self._tasks: list[asyncio.Task[None]] = []

    def handle(self, event: WatchEvent) -> None:
        raise NotImplementedError

    def queues(self) -> list[WorkQueue[tuple[str, str]]]:
        raise NotImplementedError

    def start(self) -> None:
        self._tasks = [spawn(self.component, self._watch())]
        self._tasks += [spawn(self.component, q.run()) for q in self.queues()]

    async def stop(self) -> None:
        for q in self.queues():
            q.shutdown()
        await cancel_and_wait(*self._tasks)
        self._tasks = []

    async def _watch(self) -> None:
        await self._store.list_and_watch(self._kinds, self.handle)
