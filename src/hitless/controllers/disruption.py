"""The disruption controller: each PodDisruptionBudget's status, which the Eviction API decides by.

After pkg/controller/disruption/disruption.go (trySync, getExpectedPodCount, getExpectedScale,
buildDisruptedPodMap, countHealthyPods, updatePdbStatus, failSafe) and
k8s.io/component-helpers/apps/poddisruptionbudget (UpdateDisruptionAllowedCondition):

* ``expectedPods``: with ``maxUnavailable`` or a percentage ``minAvailable``, the sum of the scales
  of the pods' controllers (a ReplicaSet's Deployment's ``replicas``, else the ReplicaSet's; a
  StatefulSet's or ReplicationController's own); with
  an integer ``minAvailable``, the number of pods selected.
* ``desiredHealthy``: ``minAvailable``, or ``expectedPods - maxUnavailable`` (percentages round up).
* ``currentHealthy``: selected pods Ready, not being deleted, and not just evicted
  (``disruptedPods``, for two minutes, DeletionTimeout).
* ``disruptionsAllowed``: ``currentHealthy - desiredHealthy``, 0 when negative or when no pod is
  expected, with the ``DisruptionAllowed`` condition.

A pod whose controller is none of these (a custom resource with a scale subresource, which
upstream reads through /scale) makes the sync fail as upstream's does when no finder knows the
controller: ``failSafe`` sets ``disruptionsAllowed: 0`` and ``SyncFailed``.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from hitless.api.poddisruptionbudget import (
    DISRUPTION_ALLOWED,
    set_condition,
    update_disruption_allowed_condition,
)
from hitless.api.types.apps import Deployment, ReplicaSet
from hitless.api.types.pod import Pod
from hitless.api.types.policy import PDBCondition, PodDisruptionBudget, PodDisruptionBudgetStatus
from hitless.clock import Clock
from hitless.controllers.controller_utils import controller_ref, is_pod_ready, scaled_value
from hitless.controllers.workqueue import Controller, WorkQueue
from hitless.store.events import NORMAL, WARNING, EventRecorder
from hitless.store.store import NotFound, Store, WatchEvent

DELETION_TIMEOUT = timedelta(minutes=2)
SYNC_FAILED = "SyncFailed"

Key = tuple[str, str]


class NoController(Exception):
    pass


def pods_for(store: Store, pdb: PodDisruptionBudget) -> list[Pod]:
    """getPodsForPdb: the pods of its namespace its selector matches (no selector: none; an
    empty one: all, as LabelSelectorAsSelector makes them)."""
    selector = pdb.spec.selector
    if selector is None:
        return []
    return store.pods(lambda p: p.namespace == pdb.namespace and selector.matches(p.metadata.labels))


def expected_scale(store: Store, pods: list[Pod]) -> tuple[int, list[str]]:
    """getExpectedScale: the scales of the pods' controllers, summed once each; unmanaged pods."""
    scales: dict[str, int] = {}
    unmanaged: list[str] = []
    for pod in pods:
        ref = controller_ref(pod)
        if ref is None:
            unmanaged.append(pod.name)
            continue
        if ref.uid in scales:
            continue
        if ref.kind in ("StatefulSet", "ReplicationController"):
            # getPodStatefulSet, getPodReplicationController: the controller's own spec.replicas
            # (read from its JSON, whether hitless runs the kind or only stores it).
            owner_obj = store.get(ref.kind, pod.namespace, ref.name)
            if owner_obj is None or owner_obj.metadata.uid != ref.uid:
                raise NoController(f'found no controllers for pod "{pod.name}"')
            replicas = (owner_obj.to_json().get("spec") or {}).get("replicas")
            scales[ref.uid] = 1 if replicas is None else int(replicas)
            continue
        if ref.kind != "ReplicaSet":
            raise NoController(f'found no controllers for pod "{pod.name}"')
        rs = store.get_typed(ReplicaSet, "ReplicaSet", pod.namespace, ref.name)
        if rs is None or rs.metadata.uid != ref.uid:
            raise NoController(f'found no controllers for pod "{pod.name}"')
        owner = controller_ref(rs)
        if owner is not None and owner.kind == "Deployment":
            d = store.get_typed(Deployment, "Deployment", pod.namespace, owner.name)
            if d is None or d.metadata.uid != owner.uid:
                raise NoController(f'found no controllers for pod "{pod.name}"')
            scales[owner.uid] = 1 if d.spec.replicas is None else d.spec.replicas
        else:
            scales[ref.uid] = rs.spec.replicas if rs.spec.replicas is not None else 1
    return sum(scales.values()), unmanaged


def expected_pod_count(store: Store, pdb: PodDisruptionBudget, pods: list[Pod]) -> tuple[int, int, list[str]]:
    """getExpectedPodCount: (expectedCount, desiredHealthy, unmanaged pods)."""
    spec = pdb.spec
    if spec.max_unavailable is not None:
        expected, unmanaged = expected_scale(store, pods)
        desired = max(expected - scaled_value(spec.max_unavailable, expected, True), 0)
        return expected, desired, unmanaged
    if spec.min_available is not None:
        if isinstance(spec.min_available, int):
            return len(pods), spec.min_available, []
        expected, unmanaged = expected_scale(store, pods)
        return expected, scaled_value(spec.min_available, expected, True), unmanaged
    return 0, 0, []


def disrupted_pod_map(
    pods: list[Pod], pdb: PodDisruptionBudget, now: datetime
) -> tuple[dict[str, datetime], datetime | None, list[Pod]]:
    """buildDisruptedPodMap: evictions not yet seen through, the next recheck, pods overdue."""
    recorded = (pdb.status.disrupted_pods if pdb.status else None) or {}
    result: dict[str, datetime] = {}
    recheck: datetime | None = None
    overdue: list[Pod] = []
    for pod in pods:
        if pod.metadata.deletion_timestamp is not None or pod.name not in recorded:
            continue
        expected_deletion = recorded[pod.name] + DELETION_TIMEOUT
        if expected_deletion < now:
            overdue.append(pod)
        else:
            recheck = expected_deletion if recheck is None or expected_deletion < recheck else recheck
            result[pod.name] = recorded[pod.name]
    return result, recheck, overdue


def count_healthy(pods: list[Pod], disrupted: dict[str, datetime], now: datetime) -> int:
    healthy = 0
    for pod in pods:
        if pod.metadata.deletion_timestamp is not None:
            continue
        when = disrupted.get(pod.name)
        if when is not None and when + DELETION_TIMEOUT > now:
            continue
        if is_pod_ready(pod):
            healthy += 1
    return healthy


class DisruptionController(Controller):
    component = "disruption-controller"

    def __init__(self, store: Store, clock: Clock) -> None:
        super().__init__(
            store,
            [
                "PodDisruptionBudget",
                "Pod",
                "Deployment",
                "ReplicaSet",
                "StatefulSet",
                "ReplicationController",
            ],
        )
        self._clock = clock
        self._recorder = EventRecorder(store, clock, "controllermanager")
        self.queue: WorkQueue[Key] = WorkQueue(clock, "disruption", self.sync)

    def queues(self) -> list[WorkQueue[Key]]:
        return [self.queue]

    def handle(self, event: WatchEvent) -> None:
        obj = event.object
        if isinstance(obj, PodDisruptionBudget):
            if event.type != "DELETED":
                self.queue.add((obj.namespace, obj.name))
            return
        # A pod's readiness or deletion, a controller's scale: every budget of the namespace may
        # change (upstream looks up the budgets of the pod; a namespace holds few).
        for pdb in self._store.objects("PodDisruptionBudget", obj.namespace):
            self.queue.add((pdb.namespace, pdb.name))

    def sync(self, key: Key) -> None:
        pdb = self._store.get_typed(PodDisruptionBudget, "PodDisruptionBudget", *key)
        if pdb is None or pdb.metadata.deletion_timestamp is not None:
            return
        try:
            self._try_sync(pdb)
        except NoController as exc:
            self._fail_safe(pdb, str(exc))

    def _try_sync(self, pdb: PodDisruptionBudget) -> None:
        pods = pods_for(self._store, pdb)
        if not pods:
            self._recorder.event(pdb, NORMAL, "NoPods", "No matching pods found")
        expected, desired, unmanaged = expected_pod_count(self._store, pdb, pods)
        if unmanaged:
            self._recorder.event(
                pdb,
                NORMAL,
                "UnmanagedPods",
                f"Pods selected by this PodDisruptionBudget (selector: {_selector_text(pdb)}) were found to "
                "be unmanaged. As a result, the status of the PDB cannot be calculated correctly, which may "
                'result in undefined behavior. To account for these pods please set ".spec.minAvailable" '
                "field of the PDB to an integer value.",
            )
        now = self._clock.wall()
        disrupted, recheck, overdue = disrupted_pod_map(pods, pdb, now)
        for pod in overdue:
            # Upstream's message names the namespace twice; kept.
            self._recorder.event(
                pod,
                WARNING,
                "NotDeleted",
                f"Pod was expected by PDB {pdb.namespace}/{pdb.namespace} to be deleted but it wasn't",
            )
        healthy = count_healthy(pods, disrupted, now)
        self._update_status(pdb, healthy, desired, expected, disrupted)
        if recheck is not None:
            self.queue.add_after((pdb.namespace, pdb.name), max((recheck - now).total_seconds(), 0.0))

    def _update_status(
        self,
        pdb: PodDisruptionBudget,
        healthy: int,
        desired: int,
        expected: int,
        disrupted: dict[str, datetime],
    ) -> None:
        allowed = healthy - desired
        if expected <= 0 or allowed <= 0:
            allowed = 0
        old = pdb.status
        status = PodDisruptionBudgetStatus(
            observed_generation=pdb.metadata.generation,
            disrupted_pods=disrupted or None,
            disruptions_allowed=allowed,
            current_healthy=healthy,
            desired_healthy=desired,
            expected_pods=expected,
            conditions=[c.copy_deep() for c in old.conditions or []] if old else None,
        )
        update_disruption_allowed_condition(status, self._clock.wall())
        self._write(pdb, status)

    def _fail_safe(self, pdb: PodDisruptionBudget, message: str) -> None:
        """failSafe: no disruption allowed while the status cannot be computed."""
        old = pdb.status or PodDisruptionBudgetStatus()
        status = old.copy_deep()
        status.disruptions_allowed = 0
        status.observed_generation = pdb.metadata.generation
        set_condition(
            status,
            PDBCondition(
                type=DISRUPTION_ALLOWED,
                status="False",
                reason=SYNC_FAILED,
                message=message,
                observed_generation=pdb.metadata.generation,
            ),
            self._clock.wall(),
        )
        self._write(pdb, status)

    def _write(self, pdb: PodDisruptionBudget, status: PodDisruptionBudgetStatus) -> None:
        updated = pdb.copy_deep()
        updated.status = status
        with contextlib.suppress(NotFound):
            self._store.update_status(updated)


def _selector_text(pdb: PodDisruptionBudget) -> str:
    from hitless.api import gofmt

    selector = pdb.spec.selector
    return str(gofmt.label_selector(selector.to_json() if selector else None))
