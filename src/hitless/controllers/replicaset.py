"""The ReplicaSet controller: keeps ``spec.replicas`` active pods, and reports them in its status.

After pkg/controller/replicaset/replica_set.go (syncReplicaSet, manageReplicas, getPodsToDelete,
the pod event handlers) and replica_set_utils.go (calculateStatus, updateReplicaSetStatus).
Pods are created from the template with ``generateName: <rs-name>-`` and a controller
ownerReference, and deleted through the API's graceful delete, so a deleted pod keeps running
its termination while it no longer counts: only active pods (not terminal, no
deletionTimestamp) are replicas.
"""

from __future__ import annotations

import contextlib

from hitless.api.types.apps import ReplicaSet, ReplicaSetStatus
from hitless.api.types.meta import ObjectMeta
from hitless.api.types.pod import Pod
from hitless.clock import Clock
from hitless.controllers.controller_utils import (
    controller_ref,
    is_pod_active,
    is_pod_available,
    is_pod_ready,
    new_controller_ref,
    pods_to_delete,
)
from hitless.controllers.workqueue import Controller, WorkQueue
from hitless.store.events import NORMAL, EventRecorder
from hitless.store.store import NotFound, Store, WatchEvent

BURST_REPLICAS = 500  # the controller's burstReplicas: at most this many creates or deletes per sync

Key = tuple[str, str]


def pod_from_template(rs: ReplicaSet) -> Pod:
    """GetPodFromTemplate: the template's labels, annotations and spec, named after the owner."""
    template = rs.spec.template
    assert template is not None
    tmeta = template.metadata
    meta = ObjectMeta(
        generate_name=f"{rs.name}-",
        namespace=rs.namespace,
        labels=dict(tmeta.labels) if tmeta.labels else None,
        annotations=dict(tmeta.annotations) if tmeta.annotations else None,
        finalizers=list(tmeta.finalizers) if tmeta.finalizers else None,
        owner_references=[new_controller_ref(rs)],
    )
    return Pod(metadata=meta, spec=template.spec.copy_deep())


class ReplicaSetController(Controller):
    component = "replicaset-controller"

    def __init__(self, store: Store, clock: Clock) -> None:
        super().__init__(store, ["ReplicaSet", "Pod"])
        self._clock = clock
        self._recorder = EventRecorder(store, clock, "replicaset-controller")
        self.queue: WorkQueue[Key] = WorkQueue(clock, "replicaset", self.sync, self._deletes_first)
        self._ready: dict[str, bool] = {}  # pod uid -> Ready as last seen (the informer's old object)

    def queues(self) -> list[WorkQueue[Key]]:
        return [self.queue]

    # --- event handlers ------------------------------------------------------------------------

    def handle(self, event: WatchEvent) -> None:
        obj = event.object
        if isinstance(obj, ReplicaSet):
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
            if event.type != "DELETED" and obj.metadata.deletion_timestamp is None:
                # An orphan: every ReplicaSet that selects it may adopt it.
                for candidate in self._replica_sets(obj.namespace):
                    if candidate.spec.selector.matches(obj.metadata.labels):
                        self.queue.add((candidate.namespace, candidate.name))
            return
        rs = self._resolve(obj.namespace, ref.kind, ref.name, ref.uid)
        if rs is None:
            return
        self.queue.add((rs.namespace, rs.name))
        min_ready = rs.spec.min_ready_seconds or 0
        if event.type == "MODIFIED" and not was_ready and is_pod_ready(obj) and min_ready > 0:
            # The pod becomes available minReadySeconds after it became Ready; no event says
            # so, hence the resync (a second later, against millisecond skew, as upstream).
            self.queue.add_after((rs.namespace, rs.name), min_ready + 1)

    def _resolve(self, namespace: str, kind: str, name: str, uid: str) -> ReplicaSet | None:
        if kind != "ReplicaSet":
            return None
        rs = self._store.get_typed(ReplicaSet, "ReplicaSet", namespace, name)
        return rs if rs is not None and rs.metadata.uid == uid else None

    def _replica_sets(self, namespace: str) -> list[ReplicaSet]:
        return [r for r in self._store.objects("ReplicaSet", namespace) if isinstance(r, ReplicaSet)]

    def _deletes_first(self, key: Key) -> int:
        """Upstream syncs the ReplicaSets of a rollout concurrently (5 workers); one at a time, a
        ReplicaSet that has pods to delete goes before one that has pods to create, so that the
        order of two syncs never adds to the Deployment's replicas + maxSurge."""
        rs = self._store.get_typed(ReplicaSet, "ReplicaSet", *key)
        if rs is None:
            return 0
        active = sum(
            1
            for p in self._store.pods()
            if (ref := controller_ref(p)) is not None and ref.uid == rs.metadata.uid and is_pod_active(p)
        )
        return 0 if active > (rs.spec.replicas if rs.spec.replicas is not None else 1) else 1

    # --- sync ----------------------------------------------------------------------------------

    def sync(self, key: Key) -> None:
        namespace, name = key
        rs = self._store.get_typed(ReplicaSet, "ReplicaSet", namespace, name)
        if rs is None:
            return
        active = self._claim_pods(rs, [p for p in self._store.pods() if p.namespace == namespace])
        active = [p for p in active if is_pod_active(p)]
        if rs.metadata.deletion_timestamp is None:
            active = self._manage_replicas(rs, active)
        status = self._calculate_status(rs, active)
        updated = self._update_status(rs, status)
        min_ready = updated.spec.min_ready_seconds or 0
        replicas = updated.spec.replicas if updated.spec.replicas is not None else 1
        if (
            min_ready > 0
            and (updated.status.ready_replicas or 0) == replicas
            and (updated.status.available_replicas or 0) != replicas
        ):
            # A last line of defence against clock skew, as upstream.
            self.queue.add_after(key, min_ready)

    def _claim_pods(self, rs: ReplicaSet, pods: list[Pod]) -> list[Pod]:
        """PodControllerRefManager.ClaimPods: own what is selected, release what no longer is."""
        owned: list[Pod] = []
        uid = rs.metadata.uid
        for pod in pods:
            ref = controller_ref(pod)
            matches = rs.spec.selector.matches(pod.metadata.labels)
            if ref is not None and ref.uid == uid:
                if matches:
                    owned.append(pod)
                elif is_pod_active(pod):
                    released = pod.copy_deep()
                    released.metadata.owner_references = [
                        r for r in pod.metadata.owner_references or [] if r.uid != uid
                    ] or None
                    with contextlib.suppress(NotFound):
                        self._store.update(released)
            elif ref is None and matches and is_pod_active(pod) and rs.metadata.deletion_timestamp is None:
                adopted = pod.copy_deep()
                adopted.metadata.owner_references = [
                    *(pod.metadata.owner_references or []),
                    new_controller_ref(rs),
                ]
                with contextlib.suppress(NotFound):
                    owned.append(self._store.update(adopted))
        return owned

    def _manage_replicas(self, rs: ReplicaSet, active: list[Pod]) -> list[Pod]:
        replicas = rs.spec.replicas if rs.spec.replicas is not None else 1
        diff = len(active) - replicas
        if diff < 0 and rs.spec.template is not None:
            for _ in range(min(-diff, BURST_REPLICAS)):
                pod = self._store.create(pod_from_template(rs))
                self._recorder.event(rs, NORMAL, "SuccessfulCreate", f"Created pod: {pod.name}")
                active.append(pod)
        elif diff > 0:
            related = self._related_pods(rs)
            doomed = pods_to_delete(active, related, min(diff, BURST_REPLICAS), self._clock.wall())
            gone = set()
            for pod in doomed:
                with contextlib.suppress(NotFound):
                    self._store.delete("Pod", pod.namespace, pod.name)
                    self._recorder.event(rs, NORMAL, "SuccessfulDelete", f"Deleted pod: {pod.name}")
                gone.add(pod.metadata.uid)
            active = [p for p in active if p.metadata.uid not in gone]
        return active

    def _related_pods(self, rs: ReplicaSet) -> list[Pod]:
        """getIndirectlyRelatedPods: the pods of every ReplicaSet with the same controller."""
        owner = controller_ref(rs)
        if owner is None:
            siblings = [rs]
        else:
            siblings = [
                r
                for r in self._replica_sets(rs.namespace)
                if (ref := controller_ref(r)) is not None and ref.uid == owner.uid
            ]
        seen: dict[str, Pod] = {}
        for sibling in siblings:
            for pod in self._store.pods():
                if pod.namespace == rs.namespace and sibling.spec.selector.matches(pod.metadata.labels):
                    seen.setdefault(pod.metadata.uid or "", pod)
        return list(seen.values())

    def _calculate_status(self, rs: ReplicaSet, active: list[Pod]) -> ReplicaSetStatus:
        template_labels = (rs.spec.template.metadata.labels if rs.spec.template else None) or {}
        now = self._clock.wall()
        labeled = ready = available = 0
        for pod in active:
            labels = pod.metadata.labels or {}
            if all(labels.get(k) == v for k, v in template_labels.items()):
                labeled += 1
            if is_pod_ready(pod):
                ready += 1
                if is_pod_available(pod, rs.spec.min_ready_seconds or 0, now):
                    available += 1
        status = rs.status.copy_deep()
        status.replicas = len(active)
        # Go's omitempty: a zero count is left out of the JSON.
        status.fully_labeled_replicas = labeled or None
        status.ready_replicas = ready or None
        status.available_replicas = available or None
        return status

    def _update_status(self, rs: ReplicaSet, status: ReplicaSetStatus) -> ReplicaSet:
        old = rs.status
        if (
            old.replicas == status.replicas
            and old.fully_labeled_replicas == status.fully_labeled_replicas
            and old.ready_replicas == status.ready_replicas
            and old.available_replicas == status.available_replicas
            and rs.metadata.generation == old.observed_generation
            and old.conditions == status.conditions
        ):
            return rs
        status.observed_generation = rs.metadata.generation
        new = rs.copy_deep()
        new.status = status
        return self._store.update_status(new)
