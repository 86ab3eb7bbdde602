"""Sidecar termination order (kuberuntime_termination_order.go, 1.29+).

Each sidecar (restartable init container) waits, after its own preStop, until every app
container and every sidecar that comes later in ``initContainers`` has terminated. So app
containers stop first and sidecars stop in reverse order. Containers that are not running
hold nobody up.
"""

from __future__ import annotations

import asyncio

from hitless.api.types.pod import Pod
from hitless.clock import Clock, wait_for


class TerminationOrdering:
    def __init__(self, pod: Pod, running: list[str], clock: Clock) -> None:
        self._clock = clock
        self._terminated = {name: asyncio.Event() for name in running}
        self._waits_for: dict[str, list[str]] = {}
        app = [c.name for c in pod.spec.containers if c.name in self._terminated]
        sidecars = [c.name for c in pod.spec.sidecars()]
        for i, name in enumerate(sidecars):
            later = [s for s in sidecars[i + 1 :] if s in self._terminated]
            self._waits_for[name] = [*app, *later]

    async def wait_for_turn(self, name: str, grace: float) -> float:
        """Wait (at most ``grace`` seconds) for the containers that must stop first."""
        start = self._clock.now()
        events = [self._terminated[n] for n in self._waits_for.get(name, [])]
        if events:
            await wait_for(self._clock, asyncio.gather(*(e.wait() for e in events)), grace)
        return self._clock.now() - start

    def container_terminated(self, name: str) -> None:
        if name in self._terminated:
            self._terminated[name].set()
