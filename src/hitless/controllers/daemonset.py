"""The DaemonSet controller: one pod per node that should run it, bound by node affinity.

After pkg/controller/daemon/daemon_controller.go (syncDaemonSet, manage, podsShouldBeOnNode,
syncNodes, updateDaemonSetStatus, the failed-pod back-off, the event handlers) and
pkg/controller/daemon/update.go (constructHistory, cleanupHistory; the rolling update is in
``daemonset_update.py``). Each pod names its node through a required node affinity
``matchFields metadata.name``, which the scheduler honours, as upstream since 1.12. Without
surge a node's new pod is created only once the old one is gone from the API: the node has no
daemon pod for the old pod's whole termination.
"""

from __future__ import annotations

import contextlib

from hitless.api.types.controllerrevision import ControllerRevision
from hitless.api.types.daemonset import ROLLING_UPDATE, DaemonSet, DaemonSetStatus
from hitless.api.types.meta import ObjectMeta
from hitless.api.types.node import Node
from hitless.api.types.pod import Pod
from hitless.clock import Clock
from hitless.controllers import daemonset_util as du
from hitless.controllers import placement
from hitless.controllers.controller_utils import (
    compute_hash,
    controller_ref,
    is_pod_ready,
    new_controller_ref,
)
from hitless.controllers.daemonset_update import rolling_update
from hitless.controllers.history import CONTROLLER_REVISION_HASH, get_patch
from hitless.controllers.workqueue import Controller, WorkQueue
from hitless.store.events import NORMAL, WARNING, EventRecorder
from hitless.store.store import AlreadyExists, NotFound, Store, WatchEvent

Key = tuple[str, str]
BACKOFF_INITIAL, BACKOFF_MAX = 1.0, 900.0  # failedPodsBackoff: flowcontrol.NewBackOff(1s, 15min)


class DaemonSetController(Controller):
    component = "daemonset-controller"

    def __init__(self, store: Store, clock: Clock) -> None:
        super().__init__(store, ["DaemonSet", "Pod", "Node"])
        self._clock = clock
        self._recorder = EventRecorder(store, clock, "daemonset-controller")
        self.queue: WorkQueue[Key] = WorkQueue(clock, "daemonset", self.sync)
        self._ready: dict[str, bool] = {}
        self._backoff: dict[tuple[str, str, str], tuple[float, float]] = {}  # key -> (delay, last)

    def queues(self) -> list[WorkQueue[Key]]:
        return [self.queue]

    # --- event handlers ------------------------------------------------------------------------

    def handle(self, event: WatchEvent) -> None:
        obj = event.object
        if isinstance(obj, DaemonSet):
            if event.type != "DELETED":
                self.queue.add((obj.namespace, obj.name))
            return
        if isinstance(obj, Node):
            for each in self._daemon_sets():
                self.queue.add((each.namespace, each.name))
            return
        if not isinstance(obj, Pod):
            return
        uid = obj.metadata.uid or ""
        was_ready = self._ready.pop(uid, False)
        if event.type != "DELETED":
            self._ready[uid] = is_pod_ready(obj)
        ref = controller_ref(obj)
        if ref is None or ref.kind != "DaemonSet":
            return
        ds = self._store.get_typed(DaemonSet, "DaemonSet", obj.namespace, ref.name)
        if ds is None or ds.metadata.uid != ref.uid:
            return
        self.queue.add((ds.namespace, ds.name))
        min_ready = ds.spec.min_ready_seconds or 0
        if event.type == "MODIFIED" and not was_ready and is_pod_ready(obj) and min_ready > 0:
            self.queue.add_after((ds.namespace, ds.name), min_ready + 1)

    def _daemon_sets(self) -> list[DaemonSet]:
        return [d for d in self._store.objects("DaemonSet") if isinstance(d, DaemonSet)]

    def nodes(self) -> list[Node]:
        return sorted((n for n in self._store.objects("Node") if isinstance(n, Node)), key=lambda n: n.name)

    # --- sync ----------------------------------------------------------------------------------

    def sync(self, key: Key) -> None:
        ds = self._store.get_typed(DaemonSet, "DaemonSet", *key)
        if ds is None:
            return
        nodes = self.nodes()
        current, old = self._construct_history(ds)
        hash_ = (current.metadata.labels or {}).get(CONTROLLER_REVISION_HASH, "")
        if ds.metadata.deletion_timestamp is None:
            self._manage(ds, nodes, hash_)
            if ds.spec.update_strategy.type == ROLLING_UPDATE:
                to_delete, to_create = rolling_update(
                    ds, nodes, self.nodes_to_daemon_pods(ds), hash_, self._clock
                )
                self._sync_nodes(ds, to_delete, to_create, hash_)
            self._cleanup_history(ds, old)
        self._update_status(ds, nodes, hash_)

    def nodes_to_daemon_pods(self, ds: DaemonSet) -> dict[str, list[Pod]]:
        """getNodesToDaemonPods: the set's pods by target node (bound or not yet), leaving out
        deleted pods that already finished."""
        out: dict[str, list[Pod]] = {}
        for pod in self._claim_pods(ds):
            if pod.status.phase in ("Succeeded", "Failed") and pod.metadata.deletion_timestamp is not None:
                continue
            node = placement.target_node_name(pod.spec)
            if node:
                out.setdefault(node, []).append(pod)
        return out

    def _claim_pods(self, ds: DaemonSet) -> list[Pod]:
        owned: list[Pod] = []
        for pod in self._store.pods(lambda p: p.namespace == ds.namespace):
            ref = controller_ref(pod)
            if ref is not None and ref.uid == ds.metadata.uid:
                owned.append(pod)
            elif (
                ref is None
                and ds.spec.selector.matches(pod.metadata.labels)
                and pod.metadata.deletion_timestamp is None
                and ds.metadata.deletion_timestamp is None
            ):
                adopted = pod.copy_deep()
                adopted.metadata.owner_references = [
                    *(pod.metadata.owner_references or []),
                    new_controller_ref(ds),
                ]
                with contextlib.suppress(NotFound):
                    owned.append(self._store.update(adopted))
        return owned

    def _manage(self, ds: DaemonSet, nodes: list[Node], hash_: str) -> None:
        """manage / podsShouldBeOnNode."""
        node_pods = self.nodes_to_daemon_pods(ds)
        to_create: list[str] = []
        to_delete: list[str] = []
        for node in nodes:
            should_run, should_continue = du.node_should_run_daemon_pod(node, ds)
            pods = node_pods.get(node.name)
            if should_run and not pods:
                to_create.append(node.name)
            elif should_continue and pods:
                running = self._prune_finished(ds, node.name, pods, to_delete)
                to_delete += self._excess(ds, running, hash_, node.name, should_run, to_create)
            elif not should_continue and pods:
                to_delete += [p.name for p in pods if p.metadata.deletion_timestamp is None]
        # Pods for nodes that no longer exist (getUnscheduledPodsWithoutNode).
        names = {n.name for n in nodes}
        for node_name, pods in node_pods.items():
            if node_name not in names:
                to_delete += [
                    p.name for p in pods if not p.spec.node_name and p.metadata.deletion_timestamp is None
                ]
        self._sync_nodes(ds, to_delete, to_create, hash_)

    def _prune_finished(self, ds: DaemonSet, node: str, pods: list[Pod], to_delete: list[str]) -> list[Pod]:
        running: list[Pod] = []
        for pod in pods:
            if pod.metadata.deletion_timestamp is not None:
                continue
            if pod.status.phase == "Failed":
                # The controller often fights a kubelet that rejects its pods: back off per node.
                key = (ds.namespace, ds.name, node)
                delay, last = self._backoff.get(key, (0.0, 0.0))
                now = self._clock.now()
                if delay and now - last < delay:
                    self.queue.add_after((ds.namespace, ds.name), delay - (now - last))
                    continue
                self._backoff[key] = (min(max(delay * 2, BACKOFF_INITIAL), BACKOFF_MAX), now)
                message = (
                    f"Found failed daemon pod {pod.namespace}/{pod.name} on node {node}, will try to kill it"
                )
                self._recorder.event(ds, WARNING, "FailedDaemonPod", message)
                to_delete.append(pod.name)
            elif pod.status.phase == "Succeeded":
                to_delete.append(pod.name)
            else:
                running.append(pod)
        return running

    @staticmethod
    def _excess(
        ds: DaemonSet, running: list[Pod], hash_: str, node: str, should_run: bool, to_create: list[str]
    ) -> list[str]:
        """Without surge, all but the oldest pod go. With surge, an old pod may stay beside a new
        one while the new one is not ready and the old one is; every other pod goes."""
        running = sorted(running, key=du.by_creation_and_phase)
        if not du.allows_surge(ds):
            return [p.name for p in running[1:]]
        if len(running) <= 1:
            if not running and should_run:
                to_create.append(node)
            return []
        doomed: list[str] = []
        oldest_new: Pod | None = None
        oldest_old: Pod | None = None
        for pod in running:
            if (pod.metadata.labels or {}).get(CONTROLLER_REVISION_HASH) == hash_:
                if oldest_new is None:
                    oldest_new = pod
                    continue
            elif oldest_old is None:
                oldest_old = pod
                continue
            doomed.append(pod.name)
        if (
            oldest_new is not None
            and oldest_old is not None
            and (not is_pod_ready(oldest_old) or is_pod_ready(oldest_new))
        ):
            doomed.append(oldest_old.name)
        return doomed

    def _sync_nodes(self, ds: DaemonSet, to_delete: list[str], to_create: list[str], hash_: str) -> None:
        """syncNodes: create a pod for each node, delete the named pods, with their Events."""
        for node_name in to_create:
            pod = self._store.create(du.daemon_pod_for(ds, node_name, hash_))
            self._recorder.event(ds, NORMAL, "SuccessfulCreate", f"Created pod: {pod.name}")
        for name in dict.fromkeys(to_delete):
            try:
                self._store.delete("Pod", ds.namespace, name)
            except NotFound:
                continue
            self._recorder.event(ds, NORMAL, "SuccessfulDelete", f"Deleted pod: {name}")

    # --- history -------------------------------------------------------------------------------

    def _histories(self, ds: DaemonSet) -> list[ControllerRevision]:
        return [
            r
            for r in self._store.objects("ControllerRevision", ds.namespace)
            if isinstance(r, ControllerRevision)
            and (ref := controller_ref(r)) is not None
            and ref.uid == ds.metadata.uid
        ]

    def _construct_history(self, ds: DaemonSet) -> tuple[ControllerRevision, list[ControllerRevision]]:
        patch = get_patch(ds)
        current = [h for h in self._histories(ds) if h.data == patch]
        old = [h for h in self._histories(ds) if h.data != patch]
        revision = max((h.revision for h in old), default=0) + 1
        if not current:
            return self._snapshot(ds, revision), old
        keep = max(current, key=lambda h: h.revision)
        for dup in current:
            if dup.name != keep.name:
                with contextlib.suppress(NotFound):
                    self._store.delete("ControllerRevision", dup.namespace, dup.name)
        if keep.revision < revision:
            renumbered = keep.copy_deep()
            renumbered.revision = revision
            keep = self._store.update(renumbered)
        return keep, old

    def _snapshot(self, ds: DaemonSet, revision: int) -> ControllerRevision:
        while True:
            hash_ = compute_hash(ds.spec.template.to_json(), ds.status.collision_count)
            history = ControllerRevision(
                metadata=ObjectMeta(
                    name=f"{ds.name}-{hash_}",
                    namespace=ds.namespace,
                    labels={**(ds.spec.template.metadata.labels or {}), CONTROLLER_REVISION_HASH: hash_},
                    annotations=dict(ds.metadata.annotations) if ds.metadata.annotations else None,
                    owner_references=[new_controller_ref(ds)],
                ),
                data=get_patch(ds),
                revision=revision,
            )
            try:
                return self._store.create(history)
            except AlreadyExists:
                existing = self._store.get_typed(
                    ControllerRevision, "ControllerRevision", ds.namespace, history.name
                )
                if existing is not None and existing.data == history.data:
                    return existing
                bumped = ds.copy_deep()
                bumped.status.collision_count = (ds.status.collision_count or 0) + 1
                ds = self._store.update_status(bumped)

    def _cleanup_history(self, ds: DaemonSet, old: list[ControllerRevision]) -> None:
        limit = ds.spec.revision_history_limit if ds.spec.revision_history_limit is not None else 10
        to_kill = len(old) - limit
        if to_kill <= 0:
            return
        live = {
            (p.metadata.labels or {}).get(CONTROLLER_REVISION_HASH)
            for pods in self.nodes_to_daemon_pods(ds).values()
            for p in pods
        }
        for history in sorted(old, key=lambda h: h.revision):
            if to_kill <= 0:
                break
            if (history.metadata.labels or {}).get(CONTROLLER_REVISION_HASH) in live:
                continue
            with contextlib.suppress(NotFound):
                self._store.delete("ControllerRevision", history.namespace, history.name)
            to_kill -= 1

    # --- status --------------------------------------------------------------------------------

    def _update_status(self, ds: DaemonSet, nodes: list[Node], hash_: str) -> None:
        """updateDaemonSetStatus: counts over the nodes, from each node's oldest daemon pod."""
        node_pods = self.nodes_to_daemon_pods(ds)
        now = self._clock.wall()
        min_ready = ds.spec.min_ready_seconds or 0
        generation = du.template_generation(ds)
        desired = current = ready = available = updated = misscheduled = 0
        for node in nodes:
            should_run, _ = du.node_should_run_daemon_pod(node, ds)
            pods = node_pods.get(node.name) or []
            if not should_run:
                misscheduled += bool(pods)
                continue
            desired += 1
            if not pods:
                continue
            current += 1
            pod = sorted(pods, key=du.by_creation_and_phase)[0]
            if is_pod_ready(pod):
                ready += 1
                available += du.available(pod, min_ready, now)
            updated += du.is_pod_updated(pod, hash_, generation)
        status = DaemonSetStatus(
            current_number_scheduled=current,
            number_misscheduled=misscheduled,
            desired_number_scheduled=desired,
            number_ready=ready,
            observed_generation=ds.metadata.generation,
            updated_number_scheduled=updated or None,
            number_available=available or None,
            number_unavailable=(desired - available) or None,
            collision_count=ds.status.collision_count,
            conditions=ds.status.conditions,
        )
        fresh = self._store.get_typed(DaemonSet, "DaemonSet", ds.namespace, ds.name)
        if fresh is not None and fresh.metadata.uid == ds.metadata.uid:
            new = fresh.copy_deep()
            new.status = status
            self._store.update_status(new)
        if min_ready > 0 and ready != available:
            self.queue.add_after((ds.namespace, ds.name), min_ready)
