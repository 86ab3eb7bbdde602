"""One probe worker per (pod, container, probe kind): pkg/kubelet/prober/worker.go.

The rules kept, including the odd ones (reference kubelet.md §1):

- each new container instance starts from an initial result: liveness Success, readiness
  Failure, startup Unknown; the counters of consecutive results are *not* reset with it;
- a random delay before the first probe only while the kubelet is younger than one period;
- the first probe right away, then a ticker counted from the worker's start; a tick that comes
  while a probe runs is kept (Go buffers one), the others are dropped;
- ``initialDelaySeconds`` counted from the container's ``startedAt``, in whole seconds;
- liveness and readiness wait until the container is ``started``; startup stops once it is;
- a result changes the cache only at its threshold; liveness goes on hold after it trips,
  startup after any verdict, until a new container instance;
- errored probes change nothing; a container that is not running reads Failure;
- the status the worker looks at is the API's (the status manager's copy), not the runtime's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hitless.api.types.pod import Container, ContainerStatus, Pod, PodStatus, Probe
from hitless.kubelet.prober.prober import ProbeKind
from hitless.kubelet.prober.probers.base import ProbeTarget
from hitless.kubelet.prober.results import Result
from hitless.tasks import spawn

if TYPE_CHECKING:
    from hitless.kubelet.prober.manager import ProbeManager

CONTAINER_ID_PREFIX = "hitless://"

INITIAL = {
    ProbeKind.LIVENESS: Result.SUCCESS,
    ProbeKind.READINESS: Result.FAILURE,
    ProbeKind.STARTUP: Result.UNKNOWN,
}


@dataclass(frozen=True)
class WorkerKey:
    pod_uid: str
    container: str
    kind: ProbeKind


class ProbeWorker:
    def __init__(self, manager: ProbeManager, pod: Pod, container: Container, kind: ProbeKind) -> None:
        spec = kind.spec(container)
        assert spec is not None
        self._manager = manager
        self.pod = pod  # the copy taken when the worker was created, as the kubelet's worker keeps
        self.container = container
        self.kind = kind
        self.spec: Probe = spec
        self.key = WorkerKey(pod.metadata.uid or "", container.name, kind)
        self.container_id = ""
        self.last_result: Result | None = None
        self.result_run = 0
        self.on_hold = False
        # A pending manual trigger (Go's manualTriggerCh, buffered by one) and the stop request.
        self._manual = False
        self._manual_at: float | None = None  # when a trigger that found the worker waiting came
        self._stopped = False
        self._waker: asyncio.Future[None] | None = None
        self._waker_takes_manual = False
        # When the current iteration was started by a tick: when that tick was due.
        self._tick_due: float | None = None
        self.task: asyncio.Task[None] | None = None

    @property
    def _results(self) -> Results:
        return self._manager.results[self.kind]

    def start(self) -> None:
        self.task = spawn(
            f"{self._manager.component} {self.kind.value.lower()} probe "
            f"{self.pod.namespace}/{self.pod.name}/{self.container.name}",
            self._run(),
        )

    def stop(self) -> None:
        self._stopped = True
        self._wake()

    def trigger(self) -> None:
        """Probe now (readiness of a started container that is not ready); non-blocking."""
        self._manual = True
        if self._waker_takes_manual:
            self._manual_at = self._manager.clock.now()
            self._wake()

    def _wake(self) -> None:
        if self._waker is not None and not self._waker.done():
            self._waker.set_result(None)

    # --- the loop ------------------------------------------------------------------------------

    async def _run(self) -> None:
        clock = self._manager.clock
        period = float(self.spec.period_seconds or 10)
        try:
            # Only while the kubelet is young, so that probes after a restart do not all fire
            # together; pods added later are probed at once.
            start = clock.now()
            if start - self._manager.start_time < period:
                start += self._manager.rng.uniform(0, period)
                if await self._wait(start - clock.now(), manual=False):
                    return
            # The ticker starts when the delay was due, not when a busy loop got round to it:
            # Go's timers fire on time, and hundreds of workers woken late together would
            # otherwise all tick in the same phase from then on.
            next_tick = start + period
            while not self._stopped and await self.do_probe():
                now = clock.now()
                if next_tick <= now:
                    # A tick came while the probe ran: Go's ticker keeps one, drops the rest.
                    while next_tick <= now:
                        next_tick += period
                    continue
                if await self._wait(next_tick - now, manual=True):
                    return
                if self._manual:
                    # probeTicker.Reset(period), done by the worker's goroutine as the trigger
                    # wakes it: from the trigger's time, however late the loop ran this.
                    reset_at = self._manual_at if self._manual_at is not None else clock.now()
                    self._manual, self._manual_at = False, None
                    next_tick = reset_at + period
                else:
                    self._tick_due = next_tick
                    next_tick += period
        finally:
            if self.container_id:
                self._results.remove(self.container_id)
            self._manager.forget(self)

    async def _wait(self, seconds: float, manual: bool) -> bool:
        """Wait for the time, a stop, or (with ``manual``) a manual trigger; True when stopped.

        One future and one timer, no tasks: the loop runs this hundreds of times a second, and
        cancelled tasks leave garbage for the collector, whose pauses make probes late.
        """
        if self._stopped or (manual and self._manual):
            return self._stopped
        waker: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waker, self._waker_takes_manual = waker, manual
        timer = self._manager.clock.call_later(seconds, self._wake)
        try:
            await waker
        finally:
            timer.cancel()
            self._waker, self._waker_takes_manual = None, False
        return self._stopped

    # --- one iteration -------------------------------------------------------------------------

    def _container_status(self, status: PodStatus) -> ContainerStatus | None:
        for statuses in (status.container_statuses, status.init_container_statuses):
            for c in statuses or []:
                if c.name == self.container.name:
                    return c
        return None

    def _will_not_restart(self) -> bool:
        # 1.29–1.34: a terminated container of a restartPolicy Never pod, unless it is a sidecar.
        return (
            self.pod.spec.restart_policy or "Always"
        ) == "Never" and self.container.restart_policy != "Always"

    async def do_probe(self) -> bool:
        """worker.go doProbe; False ends the worker."""
        try:
            return await self._do_probe()
        finally:
            self._tick_due = None

    async def _do_probe(self) -> bool:
        status = self._manager.pod_status(self.pod)
        if status is None:
            return True
        if status.phase in ("Failed", "Succeeded"):
            return False
        c = self._container_status(status)
        if c is None or not c.container_id:
            return True
        container_id = c.container_id.removeprefix(CONTAINER_ID_PREFIX)
        if container_id != self.container_id:
            # A new instance: its initial result. last_result/result_run carry over (worker.go).
            if self.container_id:
                self._results.remove(self.container_id)
            self.container_id = container_id
            self._results.set(container_id, INITIAL[self.kind], self.pod)
            self.on_hold = False
        if self.on_hold:
            return True
        if c.state.running is None:
            self._results.set(container_id, Result.FAILURE, self.pod)
            return not (c.state.terminated is not None and self._will_not_restart())
        if self.pod.metadata.deletion_timestamp is not None and self.kind is not ProbeKind.READINESS:
            # "quiet shutdown" of liveness and startup for a pod already being deleted.
            self._results.set(container_id, Result.SUCCESS, self.pod)
            return False
        started_at = c.state.running.started_at
        initial_delay = self.spec.initial_delay_seconds or 0
        if started_at is not None and initial_delay > 0:
            since = (self._manager.clock.wall() - started_at).total_seconds()
            if int(since) < initial_delay:
                return True
        if c.started:
            if self.kind is ProbeKind.STARTUP:
                return True
        elif self.kind is not ProbeKind.STARTUP:
            return True
        target = ProbeTarget(self.pod, self.container, container_id, status.pod_ip or "")
        if self._tick_due is not None:
            self._manager.observe_lateness(self.kind, self._manager.clock.now() - self._tick_due)
        verdict = await self._manager.prober.probe(self.kind, self.spec, target)
        if verdict.errored:
            return True  # thrown away: neither counted nor breaking a run
        if verdict.result is self.last_result:
            self.result_run += 1
        else:
            self.last_result, self.result_run = verdict.result, 1
        if (verdict.result is Result.FAILURE and self.result_run < (self.spec.failure_threshold or 3)) or (
            verdict.result is Result.SUCCESS and self.result_run < (self.spec.success_threshold or 1)
        ):
            return True
        self._results.set(container_id, verdict.result, self.pod)
        if (
            self.kind is ProbeKind.LIVENESS and verdict.result is Result.FAILURE
        ) or self.kind is ProbeKind.STARTUP:
            # The instance will be killed (liveness) or has passed its start (startup): no more
            # probes of this kind until a new instance.
            self.on_hold = True
            self.result_run = 0
        return True


class Results:
    """results_manager.go: the latest result per container instance; a change is announced."""

    def __init__(self, on_update: Callable[[Pod, str, Result], None]) -> None:
        self._cache: dict[str, Result] = {}
        self._on_update = on_update

    def get(self, container_id: str) -> Result | None:
        return self._cache.get(container_id)

    def set(self, container_id: str, result: Result, pod: Pod) -> None:
        if self._cache.get(container_id) is not result:
            self._cache[container_id] = result
            self._on_update(pod, container_id, result)

    def remove(self, container_id: str) -> None:
        self._cache.pop(container_id, None)
