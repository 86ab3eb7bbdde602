"""Feeding the timeline: a store listener, and a runtime that reports what it was asked to do.

The store shows when a pod was deleted, became Ready or went away, but not the moment its
container got the stop signal: that comes after preStop, inside the kubelet. ``ObservedRuntime``
sits between the kubelet and the real runtime, as a CRI event stream would, and notes each
container's start, its (first) stop signal with the grace period left, and its exit — so a SIGKILL
at the grace deadline is told apart from a clean exit. It changes nothing it forwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from hitless.api.types.event import Event
from hitless.api.types.pod import Pod
from hitless.clock import Clock
from hitless.runtime import cri
from hitless.store.store import WatchEvent
from hitless.tasks import spawn
from hitless.verify.timeline import KILL_SLACK, ContainerExit, StopSignal, Timeline


class TimelineRecorder:
    """A synchronous store listener (``Store.add_listener``) that stamps each change with the clock."""

    def __init__(self, timeline: Timeline, clock: Clock, runtime_observed: bool = True) -> None:
        self.timeline = timeline
        self.clock = clock
        # Without an ObservedRuntime, container starts and exits are read from pod status instead.
        self.runtime_observed = runtime_observed
        self._seen_running: set[tuple[str, str, int]] = set()
        self._seen_exits: set[tuple[str, str, int]] = set()

    def __call__(self, event: WatchEvent) -> None:
        obj = event.object
        now = self.clock.now()
        if isinstance(obj, Pod):
            self._pod(event, obj, now)
        elif isinstance(obj, Event) and event.type != "DELETED":
            ref = obj.involved_object
            if ref.kind == "Pod" and ref.name:
                life = self.timeline.ensure(ref.namespace or "default", ref.name)
                life.events.append((now, obj.reason, obj.message))

    def _pod(self, event: WatchEvent, pod: Pod, now: float) -> None:
        life = self.timeline.renew(pod.namespace or "default", pod.name, pod.metadata.uid)
        if life.created is None:
            life.created = now
        life.pod = pod
        life.node = pod.spec.node_name or life.node
        life.ip = pod.status.pod_ip or life.ip
        life.labels = dict(pod.metadata.labels or {})
        for ref in pod.metadata.owner_references or []:
            if ref.controller:
                life.owner = (ref.kind, ref.name)
        if event.type == "DELETED":
            life.gone = now
            _close(life.ready, now)
            return
        if pod.is_ready():
            if not life.ready or life.ready[-1][1] is not None:
                life.ready.append([now, None])
        else:
            _close(life.ready, now)
        if pod.metadata.deletion_timestamp is not None and life.deleted is None:
            life.deleted = now
            life.grace = pod.metadata.deletion_grace_period_seconds
        if not self.runtime_observed:
            self._containers_from_status(life.key, pod, now)

    def _containers_from_status(self, key: str, pod: Pod, now: float) -> None:
        life = self.timeline.pods[key]
        for status in pod.status.container_statuses or []:
            ident = (key, status.name, status.restart_count)
            if status.state.running is not None and ident not in self._seen_running:
                self._seen_running.add(ident)
                life.started.append((now, status.name))
            for term in (status.state.terminated, status.last_state.terminated):
                if term is None:
                    continue
                restart = (
                    status.restart_count if term is status.state.terminated else status.restart_count - 1
                )
                exit_ident = (key, status.name, restart)
                if exit_ident in self._seen_exits:
                    continue
                self._seen_exits.add(exit_ident)
                stop = life.stop_signal()
                killed = (
                    term.exit_code == 137 and stop is not None and now >= stop.at + stop.timeout - KILL_SLACK
                )
                life.exits.append(ContainerExit(now, status.name, term.exit_code, killed))


def _close(intervals: list[list[float | None]], now: float) -> None:
    if intervals and intervals[-1][1] is None:
        intervals[-1][1] = now


class ObservedRuntime:
    """A ``RuntimeService`` that forwards every call and notes container lifecycle moments."""

    def __init__(self, inner: cri.RuntimeService, clock: Clock, timeline: Timeline) -> None:
        self.inner = inner
        self.clock = clock
        self.timeline = timeline
        self._sandboxes: dict[str, tuple[str, str]] = {}
        self._containers: dict[str, tuple[str, str, str]] = {}  # id -> (namespace, pod, container)
        self._stopped: dict[str, StopSignal] = {}
        self._waiters: set[asyncio.Task[None]] = set()

    def info(self) -> cri.RuntimeInfo:
        return self.inner.info()

    async def run_pod_sandbox(self, config: cri.PodSandboxConfig) -> str:
        sandbox_id = await self.inner.run_pod_sandbox(config)
        self._sandboxes[sandbox_id] = (config.namespace, config.name)
        return sandbox_id

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        await self.inner.stop_pod_sandbox(sandbox_id)

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        await self.inner.remove_pod_sandbox(sandbox_id)

    def pod_sandbox_status(self, sandbox_id: str) -> cri.PodSandboxStatus:
        return self.inner.pod_sandbox_status(sandbox_id)

    async def create_container(self, sandbox_id: str, config: cri.ContainerConfig) -> str:
        container_id = await self.inner.create_container(sandbox_id, config)
        namespace, pod = self._sandboxes.get(sandbox_id, ("default", sandbox_id))
        self._containers[container_id] = (namespace, pod, config.name)
        return container_id

    async def start_container(self, container_id: str) -> None:
        await self.inner.start_container(container_id)
        where = self._containers.get(container_id)
        if where is None:
            return
        namespace, pod, name = where
        self.timeline.ensure(namespace, pod).started.append((self.clock.now(), name))
        task = spawn("verify container observer", self._wait_exit(container_id))
        self._waiters.add(task)
        task.add_done_callback(self._waiters.discard)

    async def _wait_exit(self, container_id: str) -> None:
        status = await self.inner.wait_container(container_id)
        now = self.clock.now()
        namespace, pod, name = self._containers[container_id]
        stop = self._stopped.get(container_id)
        killed = status.exit_code == 137 and stop is not None and now >= stop.at + stop.timeout - KILL_SLACK
        self.timeline.ensure(namespace, pod).exits.append(ContainerExit(now, name, status.exit_code, killed))

    async def stop_container(self, container_id: str, timeout: float) -> None:
        where = self._containers.get(container_id)
        if where is not None and container_id not in self._stopped:
            status = self.inner.container_status(container_id)
            if status.state is cri.ContainerState.RUNNING:
                # The runtime signals PID 1 once; a later, shorter stop only moves the SIGKILL closer.
                signal = StopSignal(self.clock.now(), where[2], timeout)
                self._stopped[container_id] = signal
                self.timeline.ensure(where[0], where[1]).stop_signals.append(signal)
        elif container_id in self._stopped:
            first = self._stopped[container_id]
            first.timeout = min(first.timeout, self.clock.now() - first.at + timeout)
        await self.inner.stop_container(container_id, timeout)

    async def remove_container(self, container_id: str) -> None:
        await self.inner.remove_container(container_id)

    def container_status(self, container_id: str) -> cri.ContainerStatus:
        return self.inner.container_status(container_id)

    async def wait_container(self, container_id: str) -> cri.ContainerStatus:
        return await self.inner.wait_container(container_id)

    async def exec_sync(
        self, container_id: str, argv: list[str], timeout: float | None, output_limit: int = 10240
    ) -> cri.ExecResult:
        return await self.inner.exec_sync(container_id, argv, timeout, output_limit)

    async def open_connection(
        self, sandbox_id: str, host: str, port: int, timeout: float
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await self.inner.open_connection(sandbox_id, host, port, timeout)

    async def sandbox_socket(
        self, sandbox_id: str, family: int = socket.AF_INET, type: int = socket.SOCK_STREAM
    ) -> socket.socket:
        return await self.inner.sandbox_socket(sandbox_id, family, type)

    async def set_sandbox_redirects(self, sandbox_id: str, redirects: list[cri.Redirect]) -> None:
        await self.inner.set_sandbox_redirects(sandbox_id, redirects)

    async def shutdown(self) -> None:
        await self.inner.shutdown()
        for task in list(self._waiters):
            task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.gather(*self._waiters, return_exceptions=True)
