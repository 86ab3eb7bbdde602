"""A scheduler for the emulated nodes: binds each unscheduled pod to a node.

It honours ``nodeName`` (a pod that names its node is not scheduled, as on a cluster),
It honours ``nodeName`` (a pod that names its node is not scheduled, as on a cluster),
``spec.unschedulable`` (unless the pod tolerates it, as DaemonSet pods do), taints against
tolerations, ``nodeSelector`` and required node affinity (``matchExpressions`` on labels,
``matchFields`` on ``metadata.name``, which the DaemonSet controller binds its pods with), and
spreads pods by choosing the feasible node with the fewest pods, ties broken by name (the
default scheduler's spreading, without its scores). A node takes at most its ``status.allocatable``
``pods`` (NodeResourcesFit: "Too many pods"; a bound claim's volume pins its pods to the node it
was provisioned on, VolumeBinding), counted from the scheduler's own cache of assigned
pods, which a bind updates at once (the scheduler's AssumePod) rather than when its watch event
comes back. A pod that fits nowhere gets the default scheduler's FailedScheduling Event and
``PodScheduled=False`` (reason Unschedulable) with the same message, and is tried again when a
node is added or changes, or when an assigned pod ends or goes away (a slot freed), in the order
the pods were created.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from hitless.api.types.node import Node
from hitless.api.types.pod import Pod, PodCondition
from hitless.clock import Clock
from hitless.controllers import placement
from hitless.controllers.volumebinding import volume_node_conflict
from hitless.store.events import NORMAL, WARNING, EventRecorder
from hitless.store.store import AlreadyExists, NotFound, Store, WatchEvent
from hitless.store.strategy import update_pod_condition
from hitless.tasks import cancel_and_wait, spawn

# The filter plugins' reasons (NodeUnschedulable, NodeAffinity), in the order the filters run.
REASON_UNSCHEDULABLE = "node(s) were unschedulable"
REASON_SELECTOR = "node(s) didn't match Pod's node affinity/selector"
# NodeResourcesFit (plugins/noderesources/fit.go): the node has allocatable "pods" pods already.
REASON_TOO_MANY_PODS = "Too many pods"
# VolumeBinding (plugins/volumebinding/volume_binding.go ErrReasonNodeConflict): a bound claim's
# volume lives on another node. Unresolvable by preemption, as the first filters.
REASON_VOLUME_NODE_CONFLICT = "node(s) had volume node affinity conflict"
# What preemption says of each node: the first two filters' failures cannot be resolved by
# evicting pods (UnschedulableAndUnresolvable); a full node could be, but every pod here has the
# same priority, so there is no lower-priority victim to evict.
PREEMPTION_NOT_HELPFUL = "Preemption is not helpful for scheduling"
PREEMPTION_NO_VICTIMS = "No preemption victims found for incoming pod"
_TERMINAL = ("Succeeded", "Failed")


def _histogram(items: list[str]) -> str:
    return ", ".join(sorted(f"{count} {item}" for item, count in Counter(items).items()))


def fit_error(nodes: list[Node], reasons: list[str]) -> str:
    """framework.FitError.Error(): a histogram of why each node was filtered out, then what
    preemption found."""
    total = len(nodes)
    preemption = [
        PREEMPTION_NO_VICTIMS if r == REASON_TOO_MANY_PODS else PREEMPTION_NOT_HELPFUL for r in reasons
    ]
    # The preemption message ends with its own period and FitError adds another: the API really
    # shows "..".
    return (
        f"0/{total} nodes are available: {_histogram(reasons)}. preemption: 0/{total} nodes are "
        f"available: {_histogram(preemption)}.."
    )


def allocatable_pods(node: Node) -> int | None:
    value = (node.status.allocatable or {}).get("pods")
    return int(value) if value is not None and value.isdigit() else None


class Scheduler:
    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._recorder = EventRecorder(store, clock, "default-scheduler")
        self._task: asyncio.Task[None] | None = None
        # The scheduler's cache: the pods assigned to each node that have not ended, and the
        # pods waiting for a node, in the order they came.
        self._assigned: dict[str, set[tuple[str, str]]] = {}
        self._node_of: dict[tuple[str, str], str] = {}
        self._pending: dict[tuple[str, str], None] = {}

    def start(self) -> None:
        self._task = spawn("scheduler", self._run())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _run(self) -> None:
        await self._store.list_and_watch(["Pod", "Node"], self._on_event, relisted=self._forget_all)

    def _forget_all(self) -> None:
        # A (re)list sends every pod again: the cache is rebuilt from it.
        self._assigned.clear()
        self._node_of.clear()
        self._pending.clear()

    def _on_event(self, event: WatchEvent) -> None:
        obj = event.object
        if isinstance(obj, Pod):
            freed = self._track(event.type, obj)
            if event.type == "ADDED" and not obj.spec.node_name:
                self.schedule(obj)
            elif freed:
                self._retry_pending(only_if_room=True)
        elif isinstance(obj, Node) and event.type != "DELETED":
            # A new or changed node may make waiting pods schedulable.
            self._retry_pending(only_if_room=False)

    def _track(self, type_: str, pod: Pod) -> bool:
        """Update the cache; whether a slot on a node was freed."""
        key = (pod.namespace, pod.name)
        node = pod.spec.node_name
        if type_ == "DELETED" or pod.metadata.deletion_timestamp is not None or node:
            self._pending.pop(key, None)
        elif type_ == "ADDED":
            self._pending[key] = None
        if type_ != "DELETED" and node and pod.status.phase not in _TERMINAL:
            self._assume(key, node)
            return False
        old = self._node_of.pop(key, None)
        if old is None:
            return False
        self._assigned[old].discard(key)
        return True

    def _assume(self, key: tuple[str, str], node: str) -> None:
        self._node_of[key] = node
        self._assigned.setdefault(node, set()).add(key)

    def _retry_pending(self, only_if_room: bool) -> None:
        for key in list(self._pending):
            if only_if_room and not self._has_room():
                return
            pod = self._store.get_typed(Pod, "Pod", *key)
            if pod is None:
                self._pending.pop(key, None)
                continue
            self.schedule(pod)

    def _has_room(self) -> bool:
        for n in self._store.objects("Node"):
            if isinstance(n, Node) and not n.spec.unschedulable:
                cap = allocatable_pods(n)
                if cap is None or len(self._assigned.get(n.name, ())) < cap:
                    return True
        return False

    def schedule(self, pod: Pod) -> str | None:
        if pod.spec.node_name or pod.metadata.deletion_timestamp is not None:
            return None
        nodes = sorted((n for n in self._store.objects("Node") if isinstance(n, Node)), key=lambda n: n.name)
        if not nodes:
            self._unschedulable(pod, "no nodes available to schedule pods")
            return None
        feasible: list[Node] = []
        reasons: list[str] = []
        for n in nodes:
            # The filters in the default profile's order: NodeUnschedulable, TaintToleration, NodeAffinity.
            taint = placement.untolerated_taint(n, pod.spec, ("NoSchedule", "NoExecute"))
            if n.spec.unschedulable and not placement.tolerates_unschedulable(pod.spec):
                reasons.append(REASON_UNSCHEDULABLE)
            elif taint is not None:
                reasons.append(f"node(s) had untolerated taint {{{taint.key}: {taint.value or ''}}}")
            elif not placement.required_node_affinity_matches(pod.spec, n):
                reasons.append(REASON_SELECTOR)
            elif (cap := allocatable_pods(n)) is not None and len(self._assigned.get(n.name, ())) >= cap:
                reasons.append(REASON_TOO_MANY_PODS)
            elif volume_node_conflict(self._store, pod, n.name):
                reasons.append(REASON_VOLUME_NODE_CONFLICT)
            else:
                feasible.append(n)
        if not feasible:
            self._unschedulable(pod, fit_error(nodes, reasons))
            return None
        node = min(feasible, key=lambda n: (len(self._assigned.get(n.name, ())), n.name))
        try:
            self._store.bind(pod.namespace, pod.name, node.name)
        except (AlreadyExists, NotFound):
            return None
        key = (pod.namespace, pod.name)
        self._pending.pop(key, None)
        self._assume(key, node.name)
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
