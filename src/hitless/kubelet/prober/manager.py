"""The probe manager: probe workers per pod, and the kubelet's view of their results.

pkg/kubelet/prober/prober_manager.go. The kubelet asks it three things: is this container
instance ``started`` (the startup gate), is it ``ready``, and has liveness or startup failed so
that it must be killed. It is told when pods come and go and when a pod starts terminating
(liveness and startup stop, readiness goes on until every container has stopped). Whenever a
result changes, the pod's worker is told (``on_change``), as the kubelet's sync loop reacts to
the results managers' update channels.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from hitless.api.types.pod import Pod, PodStatus
from hitless.clock import Clock, RealClock
from hitless.kubelet.prober.prober import KubeletProber, ProbeKind
from hitless.kubelet.prober.results import Result
from hitless.kubelet.prober.worker import ProbeWorker, Results, WorkerKey


@dataclass(frozen=True)
class KillDecision:
    """Why a running container must be killed: its containerKillReason."""

    reason: str  # "LivenessProbe" or "StartupProbe"


def _no_status(pod: Pod) -> PodStatus | None:
    return None


class ProbeManager:
    def __init__(
        self,
        on_change: Callable[[str], None] | None = None,
        *,
        clock: Clock | None = None,
        prober: KubeletProber | None = None,
        pod_status: Callable[[Pod], PodStatus | None] = _no_status,
        rng: random.Random | None = None,
        node: str = "",
    ) -> None:
        # Called with a pod UID whenever a result changes that the pod's status or sync depends on.
        self._on_change = on_change or (lambda uid: None)
        self.clock = clock or RealClock()
        self.start_time = self.clock.now()
        self.rng = rng or random.Random()
        # Names the probe workers' tasks to the run's supervisor (hitless.tasks).
        self.component = f"kubelet {node}" if node else "kubelet"
        # Without a prober no worker is started: a running container is started and ready, which
        # is what the kubelet reports for containers without probes.
        self._prober = prober
        self.pod_status = pod_status
        self.results = {kind: Results(self._updated) for kind in ProbeKind}
        self.workers: dict[WorkerKey, ProbeWorker] = {}
        # How late each ticked probe started against its schedule, for the probe benchmark.
        self.lateness_observer: Callable[[ProbeKind, float], None] | None = None

    @property
    def prober(self) -> KubeletProber:
        assert self._prober is not None
        return self._prober

    def observe_lateness(self, kind: ProbeKind, seconds: float) -> None:
        if self.lateness_observer is not None:
            self.lateness_observer(kind, seconds)

    def _updated(self, pod: Pod, container_id: str, result: Result) -> None:
        self._on_change(pod.metadata.uid or "")

    # --- pods ------------------------------------------------------------------------------------

    def add_pod(self, pod: Pod) -> None:
        """A worker per probe of every app container and sidecar; existing workers are kept."""
        if self._prober is None:
            return
        for container in [*pod.spec.sidecars(), *pod.spec.containers]:
            for kind in ProbeKind:
                if kind.spec(container) is None:
                    continue
                key = WorkerKey(pod.metadata.uid or "", container.name, kind)
                if key not in self.workers:
                    worker = ProbeWorker(self, pod, container, kind)
                    self.workers[key] = worker
                    worker.start()

    def stop_liveness_and_startup(self, pod: Pod) -> None:
        # As the kubelet: the app containers only (the loop covers pod.Spec.Containers).
        uid = pod.metadata.uid or ""
        for container in pod.spec.containers:
            for kind in (ProbeKind.LIVENESS, ProbeKind.STARTUP):
                worker = self.workers.get(WorkerKey(uid, container.name, kind))
                if worker is not None:
                    worker.stop()

    def remove_pod(self, pod: Pod) -> None:
        uid = pod.metadata.uid or ""
        for key, worker in list(self.workers.items()):
            if key.pod_uid == uid:
                worker.stop()

    def forget(self, worker: ProbeWorker) -> None:
        if self.workers.get(worker.key) is worker:
            del self.workers[worker.key]

    def stop_all(self) -> None:
        for worker in list(self.workers.values()):
            worker.stop()

    # --- what the kubelet asks -------------------------------------------------------------------

    def _worker(self, pod: Pod, container: str, kind: ProbeKind) -> ProbeWorker | None:
        return self.workers.get(WorkerKey(pod.metadata.uid or "", container, kind))

    def container_started(self, pod: Pod, container: str, container_id: str, running: bool) -> bool:
        """isContainerStarted: the startup probe's verdict, or running when there is none."""
        if not running:
            return False
        result = self.results[ProbeKind.STARTUP].get(container_id)
        if result is not None:
            return result is Result.SUCCESS
        return self._worker(pod, container, ProbeKind.STARTUP) is None

    def container_ready(
        self, pod: Pod, container: str, container_id: str, running: bool, started: bool
    ) -> bool:
        """UpdatePodStatus: readiness of a started, running container.

        A started container whose readiness is not Success gets an immediate extra probe each
        time its status is generated (the manual trigger), which is why a new container is
        usually probed for readiness right after it starts rather than a period later.
        """
        if not started or not running:
            return False
        if self.results[ProbeKind.READINESS].get(container_id) is Result.SUCCESS:
            return True
        worker = self._worker(pod, container, ProbeKind.READINESS)
        if worker is None:
            return True
        worker.trigger()
        return False

    def kill_decision(self, pod: Pod, container: str, container_id: str) -> KillDecision | None:
        """computePodActions: liveness Failure first, then startup Failure."""
        if self.results[ProbeKind.LIVENESS].get(container_id) is Result.FAILURE:
            return KillDecision("LivenessProbe")
        if self.results[ProbeKind.STARTUP].get(container_id) is Result.FAILURE:
            return KillDecision("StartupProbe")
        return None
