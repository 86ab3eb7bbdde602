"""One pod's worker: the state machine of pkg/kubelet/pod_workers.go.

A pod is syncing until its termination is requested (deleted in the API, removed from it, or its
own lifecycle ended: every container is done and none restarts), then terminating, then
terminated. The worker runs the :class:`~hitless.kubelet.syncer.PodSyncer`'s work one piece at a
time: a sync whenever something changed (a container started or exited, the pod was updated, a
probe result changed) or 10–15 s after a sync failed (``backOffPeriod`` with jitter 0.5; a start
refused by the crash-loop back-off counts as a failure, as it does in 1.29–1.34).

A termination request does not interrupt a sync in progress: the kubelet runs the runtime part
of SyncPod without cancellation (``context.WithoutCancel``), so a running postStart hook or a
liveness kill finishes first. Termination starts over when a later request shortens the grace
period. ``kill_now`` (a second Ctrl-C, not a kubelet behaviour) interrupts everything.
"""

from __future__ import annotations

import asyncio
import logging

from hitless.api.types.pod import Pod
from hitless.kubelet.syncer import SYNC_RETRY_PERIOD, KubeletContext, PodSyncer, SyncResult
from hitless.tasks import spawn

log = logging.getLogger(__name__)


def effective_grace_period(current: int | None, pod: Pod, override: int | None = None) -> int:
    """pod_workers.go calculateEffectiveGracePeriod (with the ``overridden`` fix of newer kubelets).

    The API server's ``deletionGracePeriodSeconds`` and the kubelet's own override can only
    shorten the grace period; with neither, the pod's ``terminationGracePeriodSeconds`` applies.
    A force delete (0) still gets 1 s, which killContainer raises to its 2 s floor.
    """
    grace = current or 0
    overridden = False
    deletion = pod.metadata.deletion_grace_period_seconds
    if deletion is not None and (grace == 0 or deletion < grace):
        grace, overridden = deletion, True
    if override is not None and (grace == 0 or override < grace):
        grace, overridden = override, True
    if not overridden and grace == 0 and pod.spec.termination_grace_period_seconds is not None:
        grace = pod.spec.termination_grace_period_seconds
    return max(grace, 1)


class PodWorker:
    def __init__(self, k: KubeletContext, pod: Pod) -> None:
        self.k = k
        self._wake = asyncio.Event()
        self.syncer = PodSyncer(k, pod, self._wake.set)
        self.terminated = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self._terminating = False
        # None while no grace period was requested: a pod that ended by itself is terminated with
        # each container's own grace period.
        self._grace: int | None = None
        self._restart_termination = False
        self._force = False
        self._sync_task: asyncio.Task[SyncResult] | None = None
        self._term_task: asyncio.Task[None] | None = None
        self._retry: asyncio.Task[None] | None = None

    @property
    def pod(self) -> Pod:
        return self.syncer.pod

    @property
    def active(self) -> bool:
        """Neither terminating nor terminated: what the eviction manager may still evict."""
        return not self._terminating

    @property
    def uid(self) -> str:
        return self.syncer.uid

    # --- requests from the kubelet ---------------------------------------------------------------

    def start(self) -> None:
        self.task = spawn(f"kubelet {self.k.node_name} pod {self.pod.namespace}/{self.pod.name}", self._run())

    def update(self, pod: Pod) -> None:
        """A new version of the pod from the API."""
        if self.terminated.is_set():
            return
        self.syncer.pod = pod
        if pod.metadata.deletion_timestamp is not None:
            self._request_termination(pod)
        self._wake.set()

    def removed(self, pod: Pod) -> None:
        """The pod is gone from the API (its last version): terminate what is left of it."""
        if not self.terminated.is_set():
            self._request_termination(pod)

    def probe_changed(self) -> None:
        """A probe result changed: the next sync acts on it and reports it."""
        if self._terminating and not self.terminated.is_set():
            # Readiness keeps being reported while the containers stop (SetContainerReadiness).
            self.syncer.publish()
        self._wake.set()

    def evict(self, message: str) -> None:
        """The eviction manager's killPodNow: terminate now, grace period 0 (so 1 s, and the 2 s
        container floor), the pod Failed with reason Evicted and ``message``, kept in the API."""
        if self.terminated.is_set() or self.syncer.evicted is not None:
            return
        self.syncer.evicted = message
        self._request_termination(self.pod, override=0)

    def kill_now(self) -> None:
        """SIGKILL every container at once, skipping hooks (hitless's second Ctrl-C)."""
        if self.terminated.is_set():
            return
        self._force = True
        self._request_termination(self.pod, override=1)
        if self._sync_task is not None and not self._sync_task.done():
            self._sync_task.cancel()
        self._cancel_termination()

    def _request_termination(self, pod: Pod, override: int | None = None) -> None:
        grace = effective_grace_period(self._grace, pod, override)
        shortened = self._grace is not None and grace != self._grace
        self._terminating = True
        self._grace = grace
        if shortened:
            self._cancel_termination()
        self._wake.set()

    def _cancel_termination(self) -> None:
        if self._term_task is not None and not self._term_task.done():
            self._restart_termination = True
            self._term_task.cancel()

    # --- the loop ----------------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            while not self._terminating:
                self._wake.clear()
                result = await self._sync_once()
                if result is SyncResult.TERMINAL:
                    self._terminating = True  # completeSync: the pod's own lifecycle has ended
                if self._terminating:
                    break
                if result is SyncResult.FAILED:
                    self._schedule_retry()
                await self._wake.wait()
            await self._terminate()
        finally:
            if self._retry is not None:
                self._retry.cancel()
            self.syncer.close()
            self.terminated.set()

    async def _sync_once(self) -> SyncResult:
        self._sync_task = asyncio.ensure_future(self.syncer.sync_pod())
        try:
            return await self._sync_task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not self._force or (current is not None and current.cancelling()):
                raise
            return SyncResult.OK  # interrupted by kill_now: terminate
        except Exception:
            # A bug or a runtime failure must not leave the pod unmanaged: retry later.
            log.exception("sync of pod %s/%s failed", self.pod.namespace, self.pod.name)
            return SyncResult.FAILED

    def _schedule_retry(self) -> None:
        if self._retry is not None and not self._retry.done():
            return
        delay = SYNC_RETRY_PERIOD * (1 + self.k.rng.random() * self.k.retry_jitter)

        async def retry() -> None:
            await self.k.clock.sleep(delay)
            self._wake.set()

        self._retry = asyncio.ensure_future(retry())

    async def _terminate(self) -> None:
        """SyncTerminatingPod until it succeeds (again with a shorter grace period), then
        SyncTerminatedPod."""
        while True:
            self._term_task = asyncio.ensure_future(
                self.syncer.sync_terminating_pod(self._grace, self._force)
            )
            try:
                await self._term_task
                break
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if not self._restart_termination or (current is not None and current.cancelling()):
                    raise
                self._restart_termination = False
            except Exception:
                log.exception("terminating pod %s/%s failed", self.pod.namespace, self.pod.name)
                await self.k.clock.sleep(SYNC_RETRY_PERIOD)
        try:
            self.syncer.sync_terminated_pod()
        except Exception:
            # The containers are gone; only the last status or the removal is missing.
            log.exception("finishing pod %s/%s failed", self.pod.namespace, self.pod.name)
