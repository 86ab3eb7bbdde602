"""A scheduler for the emulated nodes: binds each unscheduled pod to a node.

It honours ``nodeName`` (a pod that names its node is not scheduled, as on a cluster),
``nodeSelector`` against node labels, and spreads pods by choosing the feasible node with the
fewest pods, ties broken by name (the default scheduler's spreading, without its scores).
"""

from __future__ import annotations

import asyncio
import contextlib

from hitless.api.types.node import Node
from hitless.api.types.pod import Pod
from hitless.clock import Clock
from hitless.store.events import NORMAL, WARNING, EventRecorder
from hitless.store.store import AlreadyExists, NotFound, Store, Watch


class Scheduler:
    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._recorder = EventRecorder(store, clock, "default-scheduler")
        self._task: asyncio.Task[None] | None = None
        self._unschedulable: set[str] = set()

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run(self._store.watch(["Pod", "Node"], initial=True)))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self, watch: Watch) -> None:
        with watch:
            async for event in watch:
                if event.type == "DELETED":
                    continue
                if isinstance(event.object, Node):
                    # A new node may make waiting pods schedulable.
                    for pod in self._store.pods(lambda p: not p.spec.node_name):
                        self.schedule(pod)
                elif isinstance(event.object, Pod) and not event.object.spec.node_name:
                    self.schedule(event.object)

    def schedule(self, pod: Pod) -> str | None:
        if pod.metadata.deletion_timestamp is not None:
            return None
        nodes = [n for n in self._store.objects("Node") if isinstance(n, Node)]
        selector = pod.spec.node_selector or {}
        feasible = [
            n
            for n in nodes
            if not n.spec.unschedulable
            and all((n.metadata.labels or {}).get(k) == v for k, v in selector.items())
        ]
        if not feasible:
            uid = pod.metadata.uid or ""
            if uid not in self._unschedulable:
                self._unschedulable.add(uid)
                total = len(nodes)
                self._recorder.event(
                    pod,
                    WARNING,
                    "FailedScheduling",
                    f"0/{total} nodes are available: {total} node(s) didn't match Pod's node "
                    f"affinity/selector. preemption: 0/{total} nodes are available: {total} "
                    "Preemption is not helpful for scheduling.",
                )
            return None
        load = {n.name: 0 for n in feasible}
        for other in self._store.pods():
            if other.spec.node_name in load and other.status.phase not in ("Succeeded", "Failed"):
                load[other.spec.node_name] += 1
        node = min(feasible, key=lambda n: (load[n.name], n.name))
        try:
            self._store.bind(pod.namespace, pod.name, node.name)
        except (AlreadyExists, NotFound):
            return None
        self._unschedulable.discard(pod.metadata.uid or "")
        self._recorder.event(
            pod, NORMAL, "Scheduled", f"Successfully assigned {pod.namespace}/{pod.name} to {node.name}"
        )
        return node.name
