"""A scheduler for the emulated nodes: binds each unscheduled pod to a node.

It honours ``nodeName`` (a pod that names its node is not scheduled, as on a cluster),
``spec.unschedulable`` and ``nodeSelector`` against node labels, and spreads pods by choosing the
feasible node with the fewest pods, ties broken by name (the default scheduler's spreading,
without its scores). A pod that fits nowhere gets the default scheduler's FailedScheduling Event
and ``PodScheduled=False`` (reason Unschedulable) with the same message, and is tried again when
a node is added or changes.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from hitless.api.types.node import Node
from hitless.api.types.pod import Pod, PodCondition
from hitless.clock import Clock
from hitless.store.events import NORMAL, WARNING, EventRecorder
from hitless.store.store import AlreadyExists, NotFound, Store, WatchEvent
from hitless.store.strategy import update_pod_condition
from hitless.tasks import cancel_and_wait, spawn

# The filter plugins' reasons (NodeUnschedulable, NodeAffinity), in the order the filters run.
REASON_UNSCHEDULABLE = "node(s) were unschedulable"
REASON_SELECTOR = "node(s) didn't match Pod's node affinity/selector"


def fit_error(nodes: list[Node], reasons: list[str]) -> str:
    """framework.FitError.Error(): a histogram of why each node was filtered out."""
    total = len(nodes)
    histogram = sorted(f"{count} {reason}" for reason, count in Counter(reasons).items())
    # Neither filter's failure can be resolved by preempting other pods. The preemption message
    # ends with its own period and FitError adds another: the API really shows "..".
    return (
        f"0/{total} nodes are available: {', '.join(histogram)}. preemption: 0/{total} nodes are "
        f"available: {total} Preemption is not helpful for scheduling.."
    )


class Scheduler:
    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._recorder = EventRecorder(store, clock, "default-scheduler")
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = spawn("scheduler", self._run())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _run(self) -> None:
        await self._store.list_and_watch(["Pod", "Node"], self._on_event)

    def _on_event(self, event: WatchEvent) -> None:
        if event.type == "DELETED":
            return
        if isinstance(event.object, Node):
            # A new or changed node may make waiting pods schedulable.
            for pod in self._store.pods(lambda p: not p.spec.node_name):
                self.schedule(pod)
        elif isinstance(event.object, Pod) and event.type == "ADDED":
            self.schedule(event.object)

    def schedule(self, pod: Pod) -> str | None:
        if pod.spec.node_name or pod.metadata.deletion_timestamp is not None:
            return None
        nodes = sorted((n for n in self._store.objects("Node") if isinstance(n, Node)), key=lambda n: n.name)
        if not nodes:
            self._unschedulable(pod, "no nodes available to schedule pods")
            return None
        selector = pod.spec.node_selector or {}
        feasible: list[Node] = []
        reasons: list[str] = []
        for n in nodes:
            if n.spec.unschedulable:
                reasons.append(REASON_UNSCHEDULABLE)
            elif any((n.metadata.labels or {}).get(k) != v for k, v in selector.items()):
                reasons.append(REASON_SELECTOR)
            else:
                feasible.append(n)
        if not feasible:
            self._unschedulable(pod, fit_error(nodes, reasons))
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
        self._recorder.event(
            pod, NORMAL, "Scheduled", f"Successfully assigned {pod.namespace}/{pod.name} to {node.name}"
        )
        return node.name

    def _unschedulable(self, pod: Pod, message: str) -> None:
        """handleSchedulingFailure: the Event on every failed attempt, the condition when it changes."""
        self._recorder.event(pod, WARNING, "FailedScheduling", message)
        current = self._store.get_typed(Pod, "Pod", pod.namespace, pod.name)
        if current is None or current.metadata.uid != pod.metadata.uid:
            return
        updated = current.copy_deep()
        condition = PodCondition(type="PodScheduled", status="False", reason="Unschedulable", message=message)
        if update_pod_condition(updated.status, condition, self._clock.wall()):
            self._store.update_status(updated)
