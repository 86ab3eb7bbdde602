"""The work a pod worker schedules: kubelet.go SyncPod, SyncTerminatingPod, SyncTerminatedPod.

``sync_pod`` generates and publishes the pod's status first and only then acts on the runtime,
as SyncPod does: what a sync changes (a container started, a start refused by the back-off)
shows in the API at the next sync, which the change itself brings about (the runtime reports
every new or exited container, as the PLEG does) or the 10–15 s retry of a failed sync. That is
why a crashed container reads ``Error`` before it reads ``CrashLoopBackOff``, as on a node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from hitless.api.types.pod import Pod, PodStatus
from hitless.clock import Clock
from hitless.kubelet.actions import compute_pod_actions
from hitless.kubelet.container_config import PodContext
from hitless.kubelet.containers import ContainerManager
from hitless.kubelet.dns import Configurer
from hitless.kubelet.env import pod_hostname
from hitless.kubelet.etchosts import etc_hosts_extras
from hitless.kubelet.eviction import EVICTED
from hitless.kubelet.prober.manager import ProbeManager
from hitless.kubelet.status import PodStatusInput, generate_pod_status, terminate_pod_status
from hitless.kubelet.termination import with_log_fallback
from hitless.kubelet.views import ContainerView
from hitless.kubelet.volumes.manager import VolumeManager
from hitless.runtime import cri
from hitless.runtime.network import PodAttachment, PodNetwork
from hitless.store.events import WARNING, EventRecorder
from hitless.store.store import NotFound, Store
from hitless.store.strategy import TERMINAL_PHASES
from hitless.tasks import spawn

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
    volumes: VolumeManager | None = None
    # The pod's resolv.conf (kubelet/dns.py); None: containers keep the host's.
    dns: Configurer | None = None


class SyncResult(Enum):
    OK = "ok"
    FAILED = "failed"  # retry after the back-off period
    TERMINAL = "terminal"  # the pod's lifecycle has ended: terminate it


class PodSyncer:
    def __init__(self, k: KubeletContext, pod: Pod, wake: Callable[[], None]) -> None:
        self.k = k
        self.pod = pod
        self.uid = pod.metadata.uid or ""
        self.init_views = [ContainerView(spec=c, init=True) for c in pod.spec.init_containers or []]
        self.app_views = [ContainerView(spec=c) for c in pod.spec.containers]
        self.sandbox_id: str | None = None
        self.pod_ip: str | None = None
        self.resolv_conf: Path | None = None
        self.sandbox_ready = False
        self._wake = wake
        self._start_time = k.clock.wall()
        # Set by the eviction manager: the message of the pod's Evicted status.
        self.evicted: str | None = None
        # PLEG stand-ins: one task per running instance, waking the worker when it exits.
        self._waiters: dict[str, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[None]] = set()

    @property
    def views(self) -> list[ContainerView]:
        return [*self.init_views, *self.app_views]

    def close(self) -> None:
        for task in self._waiters.values():
            task.cancel()
        self._waiters.clear()

    # --- SyncPod ---------------------------------------------------------------------------------

    async def sync_pod(self) -> SyncResult:
        status = self.publish()
        if status is None:
            return SyncResult.OK  # the pod is gone from the API: its removal is on its way
        if status.phase in TERMINAL_PHASES:
            return SyncResult.TERMINAL
        if self.sandbox_id is not None and not self.sandbox_ready:
            # Killed as a whole (below), yet not terminal: the kubelet would create a new sandbox,
            # which hitless does not model. It cannot happen (a pod is killed as a whole only
            # when nothing of it restarts), so end it rather than run it without a sandbox.
            return SyncResult.TERMINAL
        # WaitForAttachAndMount: containers start once every volume is set up (the volume
        # manager wakes the worker then); meanwhile they wait in ContainerCreating.
        if self.k.volumes is not None and not self.k.volumes.pod_ready(self.pod, self._wake):
            return SyncResult.OK
        # Before the sandbox, as kubelet.go's SyncPod calls probeManager.AddPod before the
        # runtime's SyncPod: a worker's ticks keep the phase of this moment, and only workers
        # added while the kubelet is young get the random delay that spreads them.
        self.k.probes.add_pod(self.pod)
        if not await self._ensure_sandbox():
            return SyncResult.FAILED
        actions = compute_pod_actions(self.pod, self.init_views, self.app_views, self.k.probes)
        ctx = self._context()
        if actions.kill_pod:
            await self._kill_pod(None)
            self._wake()  # the PLEG sees the sandbox stop: the next sync finds the pod done
            return SyncResult.OK
        for kill in actions.kill:
            await self.k.containers.kill_container(
                ctx, kill.view, kill.container_id, kill.message, kill.reason, None
            )
            self._refresh(kill.view)
        failed = False
        for view in actions.init_to_start:
            if not await self._start(ctx, view):
                failed = True
                if not view.sidecar:
                    return SyncResult.FAILED  # initialization cannot go on without it
        for view in actions.to_start:
            failed = not await self._start(ctx, view) or failed
        return SyncResult.FAILED if failed else SyncResult.OK

    async def _ensure_sandbox(self) -> bool:
        if self.sandbox_id is not None:
            return True
        config = cri.PodSandboxConfig(
            name=self.pod.name,
            namespace=self.pod.namespace,
            uid=self.uid,
            hostname=pod_hostname(self.pod),
            log_directory=self._log_dir(),
            **etc_hosts_extras(self.pod),
        )
        try:
            sandbox_id = await asyncio.shield(self.k.runtime.run_pod_sandbox(config))
        except cri.RuntimeError_ as exc:
            self.k.recorder.event(
                self.pod, WARNING, "FailedCreatePodSandBox", f"Failed to create pod sandbox: {exc}"
            )
            return False
        self.sandbox_id = sandbox_id
        self.sandbox_ready = True
        self.pod_ip = self.k.runtime.pod_sandbox_status(sandbox_id).ip
        self.k.network.register(self.pod_ip, sandbox_id)
        await self.k.network.attach(PodAttachment(self.pod_ip, sandbox_id, self.k.node_name))
        if self.k.dns is not None:
            self.resolv_conf = self.k.dns.write_resolv_conf(self.pod, self._log_dir())
        return True

    async def _start(self, ctx: PodContext, view: ContainerView) -> bool:
        failure = self.k.containers.crashloop_backoff(ctx, view)
        if failure is None:
            failure = await self.k.containers.start_container(
                ctx, view, lambda status: self._new_instance(view, status)
            )
        # The reason cache: a failed start is remembered until a start succeeds.
        view.waiting = (failure.reason, failure.message) if failure else None
        self._refresh(view)
        return failure is None

    def _new_instance(self, view: ContainerView, status: cri.ContainerStatus) -> None:
        dropped = view.new_instance(status)
        if dropped is not None:
            # Only the two newest instances matter for status; the kubelet's GC removes the rest.
            task = asyncio.ensure_future(self.k.runtime.remove_container(dropped.id))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        if status.state is cri.ContainerState.RUNNING:
            self._waiters[status.id] = spawn(
                f"kubelet {self.k.node_name} pod {self.pod.namespace}/{self.pod.name} "
                f"container {view.name} exit",
                self._wait_exit(view, status.id),
            )
        # The PLEG sees a new container (started, or created and dead at once): another sync.
        self._wake()

    async def _wait_exit(self, view: ContainerView, container_id: str) -> None:
        await self.k.runtime.wait_container(container_id)
        self._waiters.pop(container_id, None)
        if view.latest is not None and view.latest.id == container_id:
            self._refresh(view)
        self._wake()

    def _refresh(self, view: ContainerView) -> None:
        if view.latest is not None:
            with contextlib.suppress(KeyError):
                view.latest = with_log_fallback(view.spec, self.k.runtime.container_status(view.latest.id))

    async def _kill_pod(self, grace: int | None, force: bool = False) -> None:
        if self.sandbox_id is None:
            return
        await self.k.containers.kill_pod(self._context(), self.views, grace, force)
        for view in self.views:
            self._refresh(view)
        if self.sandbox_ready:
            self.sandbox_ready = False
            if self.pod_ip is not None:
                self.k.network.unregister(self.pod_ip)
                self.k.network.detach(self.pod_ip)

    # --- SyncTerminatingPod / SyncTerminatedPod --------------------------------------------------

    async def sync_terminating_pod(self, grace: int | None, force: bool) -> None:
        """Liveness and startup stop, every container is killed, then the sandbox; readiness goes
        on until every container has stopped."""
        self.publish()
        self.k.probes.stop_liveness_and_startup(self.pod)
        await self._kill_pod(grace, force)
        self.k.probes.remove_pod(self.pod)

    def sync_terminated_pod(self) -> None:
        """The final status; a deleted pod is then removed from the API by its kubelet."""
        self.publish(final=True)
        self.close()
        if self.sandbox_id is not None or self.k.volumes is not None:
            # The kubelet's garbage collection of a terminated pod's sandbox and containers,
            # then of its volumes and directory.
            task = asyncio.ensure_future(self._clean_up())
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        if self.pod.metadata.deletion_timestamp is not None:
            with contextlib.suppress(NotFound):
                self.k.store.delete("Pod", self.pod.namespace, self.pod.name, grace_period_seconds=0)

    async def _clean_up(self) -> None:
        if self.sandbox_id is not None:
            await self.k.runtime.remove_pod_sandbox(self.sandbox_id)
        if self.k.volumes is not None:
            await self.k.volumes.remove_pod(self.uid)

    # --- status ----------------------------------------------------------------------------------

    def publish(self, final: bool = False) -> PodStatus | None:
        """Generate the status and write it; None if the pod is no longer in the API."""
        current = self.k.store.get("Pod", self.pod.namespace, self.pod.name)
        if not isinstance(current, Pod) or current.metadata.uid != self.uid:
            return None
        self.pod = current
        inp = PodStatusInput(
            pod=current,
            host_ip=self.k.host_ip,
            pod_ip=self.pod_ip,
            sandbox_ready=self.sandbox_ready,
            start_time=self._start_time,
            now=self.k.clock.wall(),
        )
        status = generate_pod_status(
            inp, self.init_views, self.app_views, self.k.probes, current.status, final
        )
        if final:
            status = terminate_pod_status(current, status)
        if self.evicted is not None:
            # eviction_manager.go evictPod's status function.
            status.phase, status.reason, status.message = "Failed", EVICTED, self.evicted
        updated = current.copy_deep()
        updated.status = status
        self.k.store.update_status(updated)
        return status

    def _context(self) -> PodContext:
        assert self.sandbox_id is not None and self.pod_ip is not None
        return PodContext(
            self.pod, self.sandbox_id, self.pod_ip, self.k.host_ip, self._log_dir(), self.resolv_conf
        )

    def _log_dir(self) -> Path:
        # /var/log/pods/<namespace>_<name>_<uid>/, as the kubelet lays logs out.
        return self.k.log_root / f"{self.pod.namespace}_{self.pod.name}_{self.uid}"
