"""Time, injected.

Every component that waits or measures takes a :class:`Clock`, so that probe, back-off and
termination logic can be driven by a :class:`FakeClock` in tests without sleeping, while the
engine runs on :class:`RealClock`.

``now()`` is monotonic seconds and is what logic compares; ``wall()`` is the UTC wall time that
goes into API objects (``startedAt``, ``deletionTimestamp``, Event times).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

T = TypeVar("T")


class TimerHandle(Protocol):
    def cancel(self) -> object: ...


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds."""
        ...

    def wall(self) -> datetime:
        """UTC wall time (timezone-aware)."""
        ...

    async def sleep(self, seconds: float) -> None: ...

    def call_later(self, seconds: float, callback: Callable[[], None]) -> TimerHandle:
        """Run ``callback`` after ``seconds``; cancellable. Cheaper than a task that sleeps, for
        the hot paths (a probe worker waits for its next tick hundreds of times a second)."""
        ...

    def wall_at(self, monotonic: float) -> datetime:
        """The wall time that corresponds to a ``now()`` reading."""
        ...


async def wait_for(clock: Clock, aw: Awaitable[T], timeout: float | None) -> tuple[bool, T | None]:
    """Await ``aw`` for at most ``timeout`` seconds of ``clock`` time.

    Returns ``(True, result)`` when it finished, ``(False, None)`` when the time ran out. Unlike
    :func:`asyncio.wait_for` the awaitable is *not* cancelled on timeout: the kubelet abandons an
    overrunning preStop hook rather than killing it, and callers that want cancellation do it.
    """
    task = asyncio.ensure_future(aw)
    if timeout is None:
        return True, await task
    if task.done():
        return True, task.result()
    timer = asyncio.ensure_future(clock.sleep(max(timeout, 0.0)))
    try:
        await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        timer.cancel()
    if task.done():
        return True, task.result()
    return False, None


class RealClock:
    def __init__(self) -> None:
        self._mono0 = time.monotonic()
        self._wall0 = datetime.now(UTC)

    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> datetime:
        return datetime.now(UTC)

    def wall_at(self, monotonic: float) -> datetime:
        return self._wall0 + timedelta(seconds=monotonic - self._mono0)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))

    def call_later(self, seconds: float, callback: Callable[[], None]) -> TimerHandle:
        return asyncio.get_running_loop().call_later(max(seconds, 0.0), callback)


class FakeClock:
    """A clock that only moves when told to.

    ``await clock.advance(s)`` moves time forward, waking sleepers in order and letting the event
    loop run what they scheduled before moving on, so a chain of timers fires as it would in real
    time. ``await clock.run_until_idle_or(s)`` is the usual driver in tests.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = 0.0
        self._wall0 = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def wall(self) -> datetime:
        return self.wall_at(self._now)

    def wall_at(self, monotonic: float) -> datetime:
        return self._wall0 + timedelta(seconds=monotonic)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self._now + seconds, next(self._seq), fut))
        await fut

    def call_later(self, seconds: float, callback: Callable[[], None]) -> TimerHandle:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        fut.add_done_callback(lambda f: None if f.cancelled() else callback())
        heapq.heappush(self._timers, (self._now + max(seconds, 0.0), next(self._seq), fut))
        return fut

    def next_deadline(self) -> float | None:
        while self._timers and self._timers[0][2].done():
            heapq.heappop(self._timers)
        return self._timers[0][0] if self._timers else None

    async def settle(self, max_rounds: int = 100_000) -> None:
        """Let every task that is ready run until the loop has nothing left to do right now.

        A fixed number of yields is not enough: a sync that starts, hooks and kills a container
        takes many loop iterations, and the clock must not jump to the next timer while such a
        chain is still running. So yield until no callback is waiting to run (asyncio's ready
        queue is empty when this task resumes), twice in a row.
        """
        loop = asyncio.get_running_loop()
        ready = getattr(loop, "_ready", None)
        if ready is None:  # not the standard event loop: the best that can be done
            for _ in range(20):
                await asyncio.sleep(0)
            return
        idle = 0
        for _ in range(max_rounds):
            await asyncio.sleep(0)
            idle = idle + 1 if not ready else 0
            if idle == 2:
                return

    async def advance(self, seconds: float) -> None:
        target = self._now + seconds
        await self.settle()
        while True:
            deadline = self.next_deadline()
            if deadline is None or deadline > target:
                break
            self._now = max(self._now, deadline)
            while self._timers and self._timers[0][0] <= self._now:
                _, _, fut = heapq.heappop(self._timers)
                if not fut.done():
                    fut.set_result(None)
            await self.settle()
        self._now = target
        await self.settle()
