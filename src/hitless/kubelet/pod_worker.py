"""One pod's worker: sync until the pod is told to terminate, then terminate it.

Shaped like the kubelet's pod worker (pkg/kubelet/pod_workers.go) driving SyncPod /
computePodActions (kuberuntime_manager.go) and SyncTerminatingPod (kubelet.go): every sync
looks at what the runtime reports and decides what to start and what to kill; a sync that is
refused by a back-off is retried 10–15 s later (``backOffPeriod`` with jitter 0.5); container
exits, probe results and deletions wake the worker at once. A sync in progress is cancelled when
termination is requested, and a second request with a shorter grace period restarts termination
with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hitless.api.types.pod import HostIP, Pod, PodIP, PodStatus
from hitless.clock import Clock
from hitless.kubelet.containers import ContainerManager, PodContext, StartFailure
from hitless.kubelet.ordering import TerminationOrdering
from hitless.kubelet.prober.manager import ProbeManager
from hitless.kubelet.status import (
    ContainerView,
    carry_transition_times,
    conditions,
    container_status,
    pod_phase,
    qos_class,
)
from hitless.runtime import cri
from hitless.runtime.network import PodNetwork
from hitless.store.events import NORMAL, WARNING, EventRecorder
from hitless.store.store import NotFound, Store

log = logging.getLogger(__name__)

# kubelet.go backOffPeriod and pod_workers.go workerBackOffPeriodJitterFactor.
SYNC_RETRY_PERIOD = 10.0
SYNC_RETRY_JITTER = 0.5


@dataclass
class KubeletContext:
    """The node-wide services a pod worker uses."""

    node_name: str
    host_ip: str
    clock: Clock
    store: Store
    runtime: cri.RuntimeService
    network: PodNetwork
    containers: ContainerManager
    probes: ProbeManager
    recorder: EventRecorder
    log_root: Path
    rng: random.Random = field(default_factory=random.Random)
    retry_jitter: float = SYNC_RETRY_JITTER


class PodWorker:
    def __init__(self, k: KubeletContext, pod: Pod) -> None:
        self.k = k
        self.pod = pod
        self.uid = pod.metadata.uid or ""
        init = pod.spec.init_containers or []
        self.init_views = [ContainerView(spec=c) for c in init]
        self.app_views = [ContainerView(spec=c) for c in pod.spec.containers]
        self.sandbox_id: str | None = None
        self.pod_ip: str | None = None
        self.initialized = not init
        self.finished = False  # terminal without deletion (restartPolicy Never/OnFailure)
        self.terminated = asyncio.Event()
        self._wake = asyncio.Event()
        self._grace: int | None = None
        self._force = False
        self._sync_task: asyncio.Task[None] | None = None
        self._term_task: asyncio.Task[None] | None = None
        self._retry: asyncio.Task[None] | None = None
        self._waiters: dict[str, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._start_time = k.clock.wall()
        self._sync_failed = False
        self._sync_cancelled = False
        self._sandbox_stopped = False
        self.task: asyncio.Task[None] | None = None

    # --- control from the kubelet -------------------------------------------------------------

    def start(self) -> None:
        self.task = asyncio.ensure_future(self._run())

    def update(self, pod: Pod) -> None:
        self.pod = pod
        if pod.metadata.deletion_timestamp is not None:
            grace = pod.metadata.deletion_grace_period_seconds
            self.request_termination(30 if grace is None else grace)
        self._wake.set()

    def request_termination(self, grace: int) -> None:
        """Terminate with ``grace`` seconds (floor 1); a later, shorter grace period wins."""
        grace = max(grace, 1)
        if self._grace is not None and grace >= self._grace:
            return
        restarting = self._grace is not None
        self._grace = grace
        if self._sync_task is not None and not self._sync_task.done():
            self._sync_cancelled = True
            self._sync_task.cancel()
        if restarting and self._term_task is not None and not self._term_task.done():
            self._term_task.cancel()
        self._wake.set()

    def kill_now(self) -> None:
        """Stop every container with SIGKILL at once, skipping hooks (a second Ctrl-C)."""
        self._force = True
        self.request_termination(1)
        if self._term_task is not None and not self._term_task.done():
            self._term_task.cancel()
        self._wake.set()

    # --- the loop -----------------------------------------------------------------------------

    def views(self) -> Iterator[ContainerView]:
        yield from self.init_views
        yield from self.app_views

    async def _run(self) -> None:
        try:
            while self._grace is None and not self.finished:
                self._wake.clear()
                self._sync_task = asyncio.ensure_future(self._sync())
                try:
                    await self._sync_task
                except asyncio.CancelledError:
                    if not self._sync_cancelled:
                        raise
                except Exception:
                    # A bug or a runtime failure must not leave the pod unmanaged: retry later.
                    log.exception("sync of pod %s/%s failed", self.pod.namespace, self.pod.name)
                    self._sync_failed = True
                self._publish()
                if self._grace is not None or self.finished:
                    break
                if self._sync_failed:
                    self._schedule_retry()
                await self._wake.wait()
            if self._grace is not None:
                await self._terminate_loop()
        finally:
            if self._retry is not None:
                self._retry.cancel()
            for task in self._waiters.values():
                task.cancel()
            self.terminated.set()

    def _schedule_retry(self) -> None:
        if self._retry is not None and not self._retry.done():
            return
        delay = SYNC_RETRY_PERIOD * (1 + self.k.rng.random() * self.k.retry_jitter)

        async def retry() -> None:
            await self.k.clock.sleep(delay)
            self._wake.set()

        self._retry = asyncio.ensure_future(retry())

    def _context(self) -> PodContext:
        assert self.sandbox_id is not None and self.pod_ip is not None
        return PodContext(self.pod, self.sandbox_id, self.pod_ip, self.k.host_ip, self._log_dir())

    def _log_dir(self) -> Path:
        # /var/log/pods/<namespace>_<name>_<uid>/, as the kubelet lays logs out.
        return self.k.log_root / f"{self.pod.namespace}_{self.pod.name}_{self.uid}"

    async def _ensure_sandbox(self) -> None:
        if self.sandbox_id is not None:
            return
        config = cri.PodSandboxConfig(
            name=self.pod.name,
            namespace=self.pod.namespace,
            uid=self.uid,
            hostname=self.pod.spec.hostname or self.pod.name,
            log_directory=self._log_dir(),
        )
        try:
            sandbox_id = await asyncio.shield(self.k.runtime.run_pod_sandbox(config))
        except cri.RuntimeError_ as exc:
            self.k.recorder.event(
                self.pod, WARNING, "FailedCreatePodSandBox", f"Failed to create pod sandbox: {exc}"
            )
            self._sync_failed = True
            raise
        self.sandbox_id = sandbox_id
        self.pod_ip = self.k.runtime.pod_sandbox_status(sandbox_id).ip
        self.k.network.register(self.pod_ip, sandbox_id)
        self.k.probes.add_pod(self.pod)

    async def _sync(self) -> None:
        self._sync_failed = False
        try:
            await self._ensure_sandbox()
        except cri.RuntimeError_:
            return
        self._publish()
        if not self.initialized and not await self._sync_init_containers():
            return
        self.initialized = True
        for view in self.init_views:
            if view.spec.restart_policy == "Always" and not view.running and not view.creating:
                # Sidecars are restarted whatever the pod's restartPolicy.
                await self._start(view)
        keep = 0
        to_start: list[ContainerView] = []
        for view in self.app_views:
            latest = view.latest
            if latest is not None and latest.state is cri.ContainerState.RUNNING:
                decision = self.k.probes.kill_decision(self.pod, view.spec.name, latest.id)
                if decision is None:
                    keep += 1
                    continue
                restart = (self.pod.spec.restart_policy or "Always") != "Never"
                message = decision.message + (", will be restarted" if restart else "")
                await self.k.containers.kill_container(
                    self._context(), view, latest.id, message, decision.reason, None
                )
                self._refresh(view)
                if restart:
                    to_start.append(view)
            elif self._should_restart(view):
                to_start.append(view)
        if keep == 0 and not to_start:
            # Nothing runs and nothing will: the pod is done (computePodActions KillPod).
            await self._finish()
            return
        for view in to_start:
            await self._start(view)

    async def _sync_init_containers(self) -> bool:
        """Run init containers in order; True once every one has done its part."""
        for view in self.init_views:
            latest = view.latest
            if view.spec.restart_policy == "Always":
                if latest is None or latest.state is cri.ContainerState.EXITED:
                    await self._start(view)
                    if not view.running:
                        return False
                if not self.k.probes.container_started(
                    self.pod, view.spec.name, view.latest.id if view.latest else "", view.running
                ):
                    return False
                continue
            if latest is None:
                await self._start(view)
                return False
            if latest.state is cri.ContainerState.RUNNING or view.creating:
                return False
            if latest.state is cri.ContainerState.EXITED and latest.exit_code == 0:
                continue
            if (self.pod.spec.restart_policy or "Always") == "Never":
                await self._finish()
                return False
            await self._start(view)
            return False
        return True

    def _should_restart(self, view: ContainerView) -> bool:
        """pkg/kubelet/container/helpers.go ShouldContainerBeRestarted."""
        latest = view.latest
        if self.pod.metadata.deletion_timestamp is not None:
            return False
        if latest is None:
            return True
        if latest.state is cri.ContainerState.RUNNING or view.creating:
            return False
        if latest.state in (cri.ContainerState.UNKNOWN, cri.ContainerState.CREATED):
            return True
        policy = self.pod.spec.restart_policy or "Always"
        if policy == "Never":
            return False
        return not (policy == "OnFailure" and latest.exit_code == 0)

    async def _start(self, view: ContainerView) -> None:
        ctx = self._context()
        failure = self.k.containers.crashloop_backoff(ctx, view)
        if failure is None:

            def created(status: cri.ContainerStatus) -> None:
                self._new_instance(view, status)

            def creating(flag: bool) -> None:
                view.creating = flag
                self._publish()

            failure = await self.k.containers.start_container(ctx, view, created, creating)
        view.waiting = (failure.reason, failure.message) if failure else None
        if failure is not None:
            self._sync_failed = True
        if view.latest is not None:
            self._refresh(view)
        self._publish()

    def _new_instance(self, view: ContainerView, status: cri.ContainerStatus) -> None:
        old = view.previous
        view.previous = view.latest
        view.latest = status
        if old is not None:
            # Only the two newest instances matter for status; the kubelet's GC removes the rest.
            task = asyncio.ensure_future(self.k.runtime.remove_container(old.id))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        if status.state is cri.ContainerState.RUNNING:
            self._waiters[status.id] = asyncio.ensure_future(self._wait_exit(view, status.id))
        else:
            # A container that failed to start went from created to exited: the PLEG reports that
            # as a container event too, which brings the next sync at once.
            self._wake.set()

    async def _wait_exit(self, view: ContainerView, container_id: str) -> None:
        # The PLEG: a container exit wakes the worker.
        await self.k.runtime.wait_container(container_id)
        self._waiters.pop(container_id, None)
        if view.latest is not None and view.latest.id == container_id:
            self._refresh(view)
        self._publish()
        self._wake.set()

    def _refresh(self, view: ContainerView) -> None:
        if view.latest is not None:
            with contextlib.suppress(KeyError):
                view.latest = self.k.runtime.container_status(view.latest.id)

    async def _finish(self) -> None:
        """All containers are done and none restarts: stop sidecars and the sandbox."""
        await self._kill_all(grace=None)
        self.finished = True

    # --- termination --------------------------------------------------------------------------

    async def _terminate_loop(self) -> None:
        while True:
            grace = self._grace
            assert grace is not None
            self._term_task = asyncio.ensure_future(self._terminate(grace))
            try:
                await self._term_task
                return
            except asyncio.CancelledError:
                if self._term_task.cancelled() and (self._grace != grace or self._force):
                    continue  # a shorter grace period or kill-now: terminate again with it
                raise

    async def _terminate(self, grace: int) -> None:
        """SyncTerminatingPod: liveness and startup stop, every container is killed in parallel."""
        self._publish()
        self.k.probes.stop_liveness_and_startup(self.pod)
        await self._kill_all(grace)
        self.k.probes.remove_pod(self.pod)
        self._publish(terminal=True)
        if self.pod.metadata.deletion_timestamp is not None:
            # The status manager deletes the API object once the pod is terminal.
            with contextlib.suppress(NotFound):
                self.k.store.delete("Pod", self.pod.namespace, self.pod.name, grace_period_seconds=0)

    async def _kill_all(self, grace: int | None) -> None:
        running = [
            v for v in self.views() if v.latest is not None and v.latest.state is cri.ContainerState.RUNNING
        ]
        if self.sandbox_id is not None:
            ctx = self._context()
            if self._force:
                await asyncio.gather(
                    *(self.k.runtime.stop_container(v.latest.id, 0) for v in running if v.latest)
                )
            else:
                ordering = None
                if self.pod.spec.sidecars():
                    ordering = TerminationOrdering(self.pod, [v.spec.name for v in running], self.k.clock)
                await asyncio.gather(
                    *(
                        self.k.containers.kill_container(ctx, v, v.latest.id, "", "", grace, ordering)
                        for v in running
                        if v.latest is not None
                    )
                )
            for view in running:
                self._refresh(view)
                view.creating = False
            self._publish()
            await self.k.runtime.stop_pod_sandbox(self.sandbox_id)
            self._sandbox_stopped = True
            if self.pod_ip is not None:
                self.k.network.unregister(self.pod_ip)

    # --- status -------------------------------------------------------------------------------

    def _publish(self, terminal: bool = False) -> None:
        current = self.k.store.get("Pod", self.pod.namespace, self.pod.name)
        if not isinstance(current, Pod) or current.metadata.uid != self.uid:
            return
        self.pod = current
        status = self.generate_status(terminal or self.finished)
        updated = current.copy_deep()
        updated.status = status
        self.k.store.update_status(updated)

    def generate_status(self, terminal: bool) -> PodStatus:
        pod = self.pod
        for view in self.views():
            latest = view.latest
            running = view.running
            cid = latest.id if latest else ""
            view.started = self.k.probes.container_started(pod, view.spec.name, cid, running)
            view.ready = self.k.probes.container_ready(pod, view.spec.name, cid, running, view.started)
        has_init = bool(self.init_views)
        default = "PodInitializing" if has_init else "ContainerCreating"
        init_statuses = [container_status(v, default) for v in self.init_views]
        for view, st in zip(self.init_views, init_statuses, strict=True):
            if view.spec.restart_policy != "Always":
                done = st.state.terminated is not None and st.state.terminated.exit_code == 0
                st.ready = done
        app_statuses = [container_status(v, default) for v in self.app_views]
        old = pod.status
        phase = pod_phase(pod, init_statuses, app_statuses, terminal)
        if old.phase in ("Succeeded", "Failed"):
            phase = old.phase  # a terminal phase is never left
        sandbox_ready = self.sandbox_id is not None and not self._sandbox_stopped
        conds = conditions(pod, self.init_views, init_statuses, app_statuses, phase, sandbox_ready)
        carry_transition_times(conds, old.conditions, self.k.clock.wall())
        return PodStatus(
            phase=phase,
            conditions=conds,
            host_ip=self.k.host_ip,
            host_ips=[HostIP(ip=self.k.host_ip)],
            pod_ip=self.pod_ip,
            pod_ips=[PodIP(ip=self.pod_ip)] if self.pod_ip else None,
            start_time=self._start_time,
            init_container_statuses=init_statuses or None,
            container_statuses=app_statuses,
            qos_class=qos_class(pod),
        )


__all__ = ["NORMAL", "KubeletContext", "PodWorker", "StartFailure"]
