"""The kubelet of one emulated node: registers the Node, runs a worker per pod bound to it.

It reacts to the store as the real kubelet reacts to the API server: a pod bound to this node
gets a worker; an update with a ``deletionTimestamp`` starts termination with the deletion
grace period; a pod removed from the API without it (a force delete) is still terminated, with
the minimal grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from pathlib import Path

from hitless.api.types.meta import ObjectMeta
from hitless.api.types.node import Node, NodeAddress, NodeStatus
from hitless.api.types.pod import Pod
from hitless.clock import Clock
from hitless.kubelet.containers import ContainerManager
from hitless.kubelet.hooks import HandlerRunner
from hitless.kubelet.images import ImageService
from hitless.kubelet.pod_worker import KubeletContext, PodWorker
from hitless.kubelet.prober.manager import ProbeManager
from hitless.runtime.cri import RuntimeService
from hitless.runtime.network import PodNetwork
from hitless.store.events import EventRecorder
from hitless.store.store import AlreadyExists, Store, Watch


class Kubelet:
    def __init__(
        self,
        node_name: str,
        host_ip: str,
        clock: Clock,
        store: Store,
        runtime: RuntimeService,
        network: PodNetwork,
        images: ImageService,
        log_root: Path,
        rng: random.Random | None = None,
        retry_jitter: float | None = None,
    ) -> None:
        self.node_name = node_name
        self.host_ip = host_ip
        self._store = store
        recorder = EventRecorder(store, clock, "kubelet", node_name)
        self.probes = ProbeManager(on_change=self._probe_changed)
        hooks = HandlerRunner(runtime, network, clock)
        self.containers = ContainerManager(runtime, images, hooks, clock, recorder)
        self.context = KubeletContext(
            node_name=node_name,
            host_ip=host_ip,
            clock=clock,
            store=store,
            runtime=runtime,
            network=network,
            containers=self.containers,
            probes=self.probes,
            recorder=recorder,
            log_root=log_root,
            rng=rng or random.Random(),
        )
        if retry_jitter is not None:
            self.context.retry_jitter = retry_jitter
        self.workers: dict[str, PodWorker] = {}
        self._seen: dict[str, object] = {}
        self._task: asyncio.Task[None] | None = None

    def register_node(self) -> Node:
        node = Node(
            metadata=ObjectMeta(
                name=self.node_name,
                labels={
                    "kubernetes.io/hostname": self.node_name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                },
            ),
            status=NodeStatus(
                addresses=[
                    NodeAddress(type="InternalIP", address=self.host_ip),
                    NodeAddress(type="Hostname", address=self.node_name),
                ]
            ),
        )
        with contextlib.suppress(AlreadyExists):
            return self._store.create(node)
        existing = self._store.get("Node", "default", self.node_name)
        assert isinstance(existing, Node)
        return existing

    def start(self) -> None:
        self.register_node()
        watch = self._store.watch(["Pod"], initial=True)
        self._task = asyncio.ensure_future(self._run(watch))

    async def _run(self, watch: Watch) -> None:
        with watch:
            async for event in watch:
                pod = event.object
                if not isinstance(pod, Pod) or pod.spec.node_name != self.node_name:
                    continue
                uid = pod.metadata.uid or ""
                worker = self.workers.get(uid)
                if event.type == "DELETED":
                    if worker is not None and not worker.terminated.is_set():
                        worker.request_termination(1)
                    continue
                if worker is None:
                    if pod.status.phase in ("Succeeded", "Failed"):
                        continue
                    self._changed(pod)
                    worker = PodWorker(self.context, pod)
                    self.workers[uid] = worker
                    worker.start()
                    if pod.metadata.deletion_timestamp is not None:
                        worker.update(pod)
                elif self._changed(pod):
                    # Status writes come back through the watch too; like the kubelet's pod
                    # config, only a change of spec or metadata is news to the worker.
                    worker.update(pod)

    def _changed(self, pod: Pod) -> bool:
        data = pod.to_json()
        key = (data.get("spec"), {k: v for k, v in data["metadata"].items() if k != "resourceVersion"})
        uid = pod.metadata.uid or ""
        if self._seen.get(uid) == key:
            return False
        self._seen[uid] = key
        return True

    def _probe_changed(self, uid: str) -> None:
        worker = self.workers.get(uid)
        if worker is not None:
            worker.update(worker.pod)

    def kill_now(self) -> None:
        for worker in self.workers.values():
            if not worker.terminated.is_set():
                worker.kill_now()

    async def wait_idle(self) -> None:
        """Until every pod worker of this node has finished or terminated."""
        while True:
            pending = [w for w in self.workers.values() if not (w.terminated.is_set() or w.finished)]
            if not pending:
                return
            await asyncio.wait(
                [asyncio.ensure_future(w.terminated.wait()) for w in pending],
                return_when=asyncio.FIRST_COMPLETED,
            )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for worker in self.workers.values():
            if worker.task is not None and not worker.task.done():
                worker.task.cancel()
        await self.containers.shutdown()
