"""The StatefulSet controller: watches StatefulSets and their pods, syncs one set at a time.

After pkg/controller/statefulset/stateful_set.go (the event handlers, getPodsForStatefulSet with
its adoption of orphans that are members by name, sync, the minReadySeconds resync). The
control loop itself is ``statefulset_control.py``.
"""

from __future__ import annotations

import contextlib

from hitless.api.types.pod import Pod
from hitless.api.types.statefulset import StatefulSet
from hitless.clock import Clock
from hitless.controllers import statefulset_utils as su
from hitless.controllers.controller_utils import controller_ref, is_pod_ready, new_controller_ref
from hitless.controllers.statefulset_control import StatefulSetControl
from hitless.controllers.workqueue import Controller, WorkQueue
from hitless.store.events import EventRecorder
from hitless.store.store import NotFound, Store, WatchEvent

Key = tuple[str, str]


class StatefulSetController(Controller):
    component = "statefulset-controller"

    def __init__(self, store: Store, clock: Clock) -> None:
        super().__init__(store, ["StatefulSet", "Pod"])
        self._clock = clock
        self.control = StatefulSetControl(store, clock, EventRecorder(store, clock, "statefulset-controller"))
        self.queue: WorkQueue[Key] = WorkQueue(clock, "statefulset", self.sync)
        self._ready: dict[str, bool] = {}  # pod uid -> Ready as last seen

    def queues(self) -> list[WorkQueue[Key]]:
        return [self.queue]

    def handle(self, event: WatchEvent) -> None:
        obj = event.object
        if isinstance(obj, StatefulSet):
            if event.type != "DELETED":
                self.queue.add((obj.namespace, obj.name))
            return
        if not isinstance(obj, Pod):
            return
        uid = obj.metadata.uid or ""
        was_ready = self._ready.pop(uid, False)
        if event.type != "DELETED":
            self._ready[uid] = is_pod_ready(obj)
        ref = controller_ref(obj)
        if ref is None:
            if event.type != "DELETED":
                for other in self._sets(obj.namespace):
                    if other.spec.selector.matches(obj.metadata.labels) and su.is_member_of(other, obj):
                        self.queue.add((other.namespace, other.name))
            return
        if ref.kind != "StatefulSet":
            return
        s = self._store.get_typed(StatefulSet, "StatefulSet", obj.namespace, ref.name)
        if s is None or s.metadata.uid != ref.uid:
            return
        self.queue.add((s.namespace, s.name))
        min_ready = s.spec.min_ready_seconds or 0
        if event.type == "MODIFIED" and not was_ready and is_pod_ready(obj) and min_ready > 0:
            self.queue.add_after((s.namespace, s.name), min_ready + 1)

    def _sets(self, namespace: str) -> list[StatefulSet]:
        return [s for s in self._store.objects("StatefulSet", namespace) if isinstance(s, StatefulSet)]

    def sync(self, key: Key) -> None:
        s = self._store.get_typed(StatefulSet, "StatefulSet", *key)
        if s is None:
            return
        pods = self._claim_pods(s)
        status = self.control.update_stateful_set(s, pods)
        min_ready = s.spec.min_ready_seconds or 0
        if min_ready > 0 and status.available_replicas != su.replicas_of(s):
            self.queue.add_after(key, min_ready)

    def _claim_pods(self, s: StatefulSet) -> list[Pod]:
        """ClaimPods with the isMemberOf filter: adopt a selected orphan named ``<set>-<n>``,
        release an owned pod the selector no longer selects."""
        owned: list[Pod] = []
        uid = s.metadata.uid
        for pod in self._store.pods(lambda p: p.namespace == s.namespace):
            ref = controller_ref(pod)
            matches = s.spec.selector.matches(pod.metadata.labels) and su.is_member_of(s, pod)
            if ref is not None and ref.uid == uid:
                if matches:
                    owned.append(pod)
                elif pod.metadata.deletion_timestamp is None:
                    released = pod.copy_deep()
                    released.metadata.owner_references = [
                        r for r in pod.metadata.owner_references or [] if r.uid != uid
                    ] or None
                    with contextlib.suppress(NotFound):
                        self._store.update(released)
            elif (
                ref is None
                and matches
                and pod.metadata.deletion_timestamp is None
                and s.metadata.deletion_timestamp is None
            ):
                adopted = pod.copy_deep()
                adopted.metadata.owner_references = [
                    *(pod.metadata.owner_references or []),
                    new_controller_ref(s),
                ]
                with contextlib.suppress(NotFound):
                    owned.append(self._store.update(adopted))
        return owned
