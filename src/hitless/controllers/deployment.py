"""The Deployment controller: one ReplicaSet per pod template, scaled by the strategy.

After pkg/controller/deployment: deployment_controller.go (event handlers, syncDeployment),
sync.go (new ReplicaSet, revisions, proportional scaling, cleanup, status), progress.go (the
Progressing condition and the deadline requeue). The strategies are in ``rollout.py``.
"""

from __future__ import annotations

import contextlib

from hitless.api.types.apps import (
    Deployment,
    ReplicaSet,
    ReplicaSetSpec,
)
from hitless.api.types.meta import LabelSelector, ObjectMeta
from hitless.api.types.pod import Pod
from hitless.clock import Clock
from hitless.controllers import deployment_util as du
from hitless.controllers import progress, rollout
from hitless.controllers.controller_utils import (
    POD_TEMPLATE_HASH,
    compute_hash,
    controller_ref,
    new_controller_ref,
    rs_by_creation_key,
)
from hitless.controllers.workqueue import Controller, WorkQueue
from hitless.store.events import NORMAL, WARNING, EventRecorder
from hitless.store.store import AlreadyExists, NotFound, Store, WatchEvent

Key = tuple[str, str]


class DeploymentController(Controller):
    component = "deployment-controller"

    def __init__(self, store: Store, clock: Clock) -> None:
        super().__init__(store, ["Deployment", "ReplicaSet", "Pod"])
        self.clock = clock
        self.store = store
        self.recorder = EventRecorder(store, clock, "deployment-controller")
        self.queue: WorkQueue[Key] = WorkQueue(clock, "deployment", self.sync)

    def queues(self) -> list[WorkQueue[Key]]:
        return [self.queue]

    # --- event handlers ------------------------------------------------------------------------

    def handle(self, event: WatchEvent) -> None:
        obj = event.object
        if isinstance(obj, Deployment):
            self.queue.add((obj.namespace, obj.name))
        elif isinstance(obj, ReplicaSet):
            ref = controller_ref(obj)
            if ref is not None:
                d = self._resolve(obj.namespace, ref.kind, ref.name, ref.uid)
                if d is not None:
                    self.queue.add((d.namespace, d.name))
            elif event.type != "DELETED":
                # An orphan: the Deployments that select it may adopt it.
                for d in self._deployments(obj.namespace):
                    if d.spec.selector.matches(obj.metadata.labels):
                        self.queue.add((d.namespace, d.name))
        elif isinstance(obj, Pod) and event.type == "DELETED":
            # Only Recreate waits for pods to be gone, and only that is worth a sync.
            d = self._deployment_for_pod(obj)
            if d is not None and d.spec.strategy.type == "Recreate":
                rss = self._owned_replica_sets(d)
                if not any(pods for pods in self.pod_map(d, rss).values()):
                    self.queue.add((d.namespace, d.name))

    def _resolve(self, namespace: str, kind: str, name: str, uid: str) -> Deployment | None:
        if kind != "Deployment":
            return None
        d = self.store.get_typed(Deployment, "Deployment", namespace, name)
        return d if d is not None and d.metadata.uid == uid else None

    def _deployments(self, namespace: str) -> list[Deployment]:
        return [d for d in self.store.objects("Deployment", namespace) if isinstance(d, Deployment)]

    def _deployment_for_pod(self, pod: Pod) -> Deployment | None:
        ref = controller_ref(pod)
        if ref is None or ref.kind != "ReplicaSet":
            return None
        rs = self.store.get_typed(ReplicaSet, "ReplicaSet", pod.namespace, ref.name)
        if rs is None or rs.metadata.uid != ref.uid:
            return None
        owner = controller_ref(rs)
        return self._resolve(rs.namespace, owner.kind, owner.name, owner.uid) if owner else None

    # --- listing -------------------------------------------------------------------------------

    def _owned_replica_sets(self, d: Deployment) -> list[ReplicaSet]:
        return [
            rs
            for rs in self.store.objects("ReplicaSet", d.namespace)
            if isinstance(rs, ReplicaSet)
            and (ref := controller_ref(rs)) is not None
            and ref.uid == d.metadata.uid
        ]

    def _claim_replica_sets(self, d: Deployment) -> list[ReplicaSet]:
        """getReplicaSetsForDeployment: adopt selected orphans, release what is no longer selected."""
        claimed: list[ReplicaSet] = []
        for rs in self.store.objects("ReplicaSet", d.namespace):
            if not isinstance(rs, ReplicaSet):
                continue
            ref = controller_ref(rs)
            matches = d.spec.selector.matches(rs.metadata.labels)
            if ref is not None and ref.uid == d.metadata.uid:
                if matches:
                    claimed.append(rs)
                else:
                    released = rs.copy_deep()
                    released.metadata.owner_references = [
                        r for r in rs.metadata.owner_references or [] if r.uid != d.metadata.uid
                    ] or None
                    self.store.update(released)
            elif ref is None and matches and d.metadata.deletion_timestamp is None:
                adopted = rs.copy_deep()
                adopted.metadata.owner_references = [
                    *(rs.metadata.owner_references or []),
                    new_controller_ref(d),
                ]
                claimed.append(self.store.update(adopted))
        return claimed

    def pod_map(self, d: Deployment, rss: list[ReplicaSet]) -> dict[str, list[Pod]]:
        """getPodMapForDeployment: the Deployment's pods, terminating ones included, by ReplicaSet uid."""
        out: dict[str, list[Pod]] = {rs.metadata.uid or "": [] for rs in rss}
        for pod in self.store.pods():
            if pod.namespace != d.namespace or not d.spec.selector.matches(pod.metadata.labels):
                continue
            ref = controller_ref(pod)
            if ref is not None and ref.uid in out:
                out[ref.uid].append(pod)
        return out

    # --- syncDeployment ------------------------------------------------------------------------

    def sync(self, key: Key) -> None:
        namespace, name = key
        stored = self.store.get_typed(Deployment, "Deployment", namespace, name)
        if stored is None:
            return
        d = stored.copy_deep()
        if d.spec.selector == LabelSelector():
            self.recorder.event(
                d,
                WARNING,
                "SelectingAll",
                "This deployment is selecting all pods. A non-empty selector is required.",
            )
            if (d.status.observed_generation or 0) < (d.metadata.generation or 0):
                d.status.observed_generation = d.metadata.generation
                self.store.update_status(d)
            return
        rss = self._claim_replica_sets(d)
        pods = self.pod_map(d, rss)
        if d.metadata.deletion_timestamp is not None:
            new_rs, old_rss = self.get_all_replica_sets(d, rss, False)
            self.sync_status([*old_rss, new_rs], new_rs, d)
            return
        self._check_paused_conditions(d)
        if d.spec.paused or self._is_scaling_event(d, rss):
            self._sync(d, rss)
        elif d.spec.strategy.type == "Recreate":
            rollout.rollout_recreate(self, d, rss, pods)
        else:
            rollout.rollout_rolling(self, d, rss)

    def _check_paused_conditions(self, d: Deployment) -> None:
        if not du.has_progress_deadline(d):
            return
        cond = du.get_condition(d.status, "Progressing")
        if cond is not None and cond.reason == du.TIMED_OUT:
            return
        paused_exists = cond is not None and cond.reason == du.PAUSED
        now = self.clock.wall()
        if d.spec.paused and not paused_exists:
            du.set_condition(
                d.status, du.new_condition("Progressing", "Unknown", du.PAUSED, "Deployment is paused", now)
            )
        elif not d.spec.paused and paused_exists:
            du.set_condition(
                d.status, du.new_condition("Progressing", "Unknown", du.RESUMED, "Deployment is resumed", now)
            )
        else:
            return
        self.write_status(d)

    def _is_scaling_event(self, d: Deployment, rss: list[ReplicaSet]) -> bool:
        new_rs, old_rss = self.get_all_replica_sets(d, rss, False)
        for rs in du.filter_active([*old_rss, new_rs]):
            desired = du.desired_replicas_annotation(rs)
            if desired is not None and desired != du.replicas_of(d):
                return True
        return False

    def _sync(self, d: Deployment, rss: list[ReplicaSet]) -> None:
        """sync: scaling events and paused Deployments (proportional scaling, no rollout)."""
        new_rs, old_rss = self.get_all_replica_sets(d, rss, False)
        self._scale(d, new_rs, old_rss)
        if d.spec.paused:
            self.cleanup(old_rss, d)
        self.sync_status([*old_rss, new_rs], new_rs, d)

    # --- ReplicaSets ---------------------------------------------------------------------------

    def get_all_replica_sets(
        self, d: Deployment, rss: list[ReplicaSet], create: bool
    ) -> tuple[ReplicaSet | None, list[ReplicaSet]]:
        """getAllReplicaSetsAndSyncRevision: the new ReplicaSet (created if asked) and all old ones."""
        old_rss = du.find_old_replica_sets(d, rss)
        return self._get_new_replica_set(d, rss, old_rss, create), old_rss

    def _get_new_replica_set(
        self, d: Deployment, rss: list[ReplicaSet], old_rss: list[ReplicaSet], create: bool
    ) -> ReplicaSet | None:
        existing = du.find_new_replica_set(d, rss)
        new_revision = str(du.max_revision(old_rss) + 1)
        now = self.clock.wall()
        if existing is not None:
            rs = existing.copy_deep()
            annotations_updated = du.set_new_replica_set_annotations(d, rs, new_revision, True)
            if annotations_updated or (rs.spec.min_ready_seconds or 0) != (d.spec.min_ready_seconds or 0):
                rs.spec.min_ready_seconds = d.spec.min_ready_seconds or None
                return self.store.update(rs)
            needs_update = du.set_deployment_revision(d, (rs.metadata.annotations or {}).get(du.REVISION, ""))
            if du.has_progress_deadline(d) and du.get_condition(d.status, "Progressing") is None:
                msg = f'Found new replica set "{rs.name}"'
                du.set_condition(d.status, du.new_condition("Progressing", "True", du.FOUND_NEW_RS, msg, now))
                needs_update = True
            if needs_update:
                self.write_status(d)
            return rs
        if not create:
            return None
        template = d.spec.template.copy_deep()
        pod_hash = compute_hash(template.to_json(), d.status.collision_count)
        template.metadata.labels = {**(template.metadata.labels or {}), POD_TEMPLATE_HASH: pod_hash}
        selector = d.spec.selector.copy_deep()
        selector.match_labels = {**(selector.match_labels or {}), POD_TEMPLATE_HASH: pod_hash}
        new_rs = ReplicaSet(
            metadata=ObjectMeta(
                name=f"{d.name}-{pod_hash}",
                namespace=d.namespace,
                owner_references=[new_controller_ref(d)],
                labels=dict(template.metadata.labels),
            ),
            spec=ReplicaSetSpec(
                replicas=0,
                min_ready_seconds=d.spec.min_ready_seconds or None,
                selector=selector,
                template=template,
            ),
        )
        replicas = du.new_rs_new_replicas(d, [*old_rss, new_rs], new_rs)
        new_rs.spec.replicas = replicas
        du.set_new_replica_set_annotations(d, new_rs, new_revision, False)
        try:
            created = self.store.create(new_rs)
            already_exists = False
        except AlreadyExists:
            already_exists = True
            found = self.store.get_typed(ReplicaSet, "ReplicaSet", d.namespace, new_rs.name)
            ref = controller_ref(found) if found is not None else None
            if (
                found is None
                or ref is None
                or ref.uid != d.metadata.uid
                or not du.equal_ignore_hash(d.spec.template, found.spec.template)
            ):
                # A hash collision: a different template under the same name. Count it, so that
                # the next sync hashes differently.
                d.status.collision_count = (d.status.collision_count or 0) + 1
                self.store.update_status(d)
                raise
            created = found
        if not already_exists and replicas > 0:
            self.recorder.event(
                d, NORMAL, "ScalingReplicaSet", f"Scaled up replica set {created.name} to {replicas}"
            )
        needs_update = du.set_deployment_revision(d, new_revision)
        if not already_exists and du.has_progress_deadline(d):
            msg = f'Created new replica set "{created.name}"'
            du.set_condition(d.status, du.new_condition("Progressing", "True", du.NEW_REPLICA_SET, msg, now))
            needs_update = True
        if needs_update:
            self.write_status(d)
        return created

    def scale_and_record(self, rs: ReplicaSet, new_scale: int, d: Deployment) -> tuple[bool, ReplicaSet]:
        """scaleReplicaSetAndRecordEvent."""
        if du.replicas_of(rs) == new_scale:
            return False, rs
        return self.scale_replica_set(rs, new_scale, d, "up" if du.replicas_of(rs) < new_scale else "down")

    def scale_replica_set(
        self, rs: ReplicaSet, new_scale: int, d: Deployment, operation: str
    ) -> tuple[bool, ReplicaSet]:
        size_changed = du.replicas_of(rs) != new_scale
        desired, maximum = du.replicas_of(d), du.replicas_of(d) + du.max_surge(d)
        if not size_changed and not du.replicas_annotations_need_update(rs, desired, maximum):
            return False, rs
        old_scale = du.replicas_of(rs)
        copy = rs.copy_deep()
        copy.spec.replicas = new_scale
        du.set_replicas_annotations(copy, desired, maximum)
        updated = self.store.update(copy)
        if size_changed:
            self.recorder.event(
                d,
                NORMAL,
                "ScalingReplicaSet",
                f"Scaled {operation} replica set {updated.name} to {new_scale} from {old_scale}",
            )
        return size_changed, updated

    def _scale(self, d: Deployment, new_rs: ReplicaSet | None, old_rss: list[ReplicaSet]) -> None:
        """scale: proportional scaling of every active ReplicaSet, for scaling events mid-rollout."""
        replicas = du.replicas_of(d)
        latest = du.find_active_or_latest(new_rs, old_rss)
        if latest is not None:
            if du.replicas_of(latest) != replicas:
                self.scale_and_record(latest, replicas, d)
            return
        if du.is_saturated(d, new_rs):
            for old in du.filter_active(list(old_rss)):
                self.scale_and_record(old, 0, d)
            return
        if not du.is_rolling_update(d):
            return
        active = du.filter_active([*old_rss, new_rs])
        allowed = replicas + du.max_surge(d) if replicas > 0 else 0
        to_add = allowed - du.spec_replicas(list(active))
        operation = ""
        if to_add > 0:
            # Larger first; among equals, newer first.
            active.sort(key=rs_by_creation_key, reverse=True)
            active.sort(key=du.replicas_of, reverse=True)
            operation = "up"
        elif to_add < 0:
            active.sort(key=rs_by_creation_key)
            active.sort(key=du.replicas_of, reverse=True)
            operation = "down"
        added = 0
        sizes: dict[str, int] = {}
        for rs in active:
            if to_add != 0:
                proportion = du.get_proportion(rs, d, to_add, added)
                sizes[rs.name] = du.replicas_of(rs) + proportion
                added += proportion
            else:
                sizes[rs.name] = du.replicas_of(rs)
        for i, rs in enumerate(active):
            if i == 0 and to_add != 0:
                sizes[rs.name] = max(sizes[rs.name] + to_add - added, 0)
            self.scale_replica_set(rs, sizes[rs.name], d, operation)

    def cleanup(self, old_rss: list[ReplicaSet], d: Deployment) -> None:
        """cleanupDeployment: keep at most revisionHistoryLimit old ReplicaSets (only empty ones go)."""
        if not du.has_revision_history_limit(d):
            return
        cleanable = [rs for rs in old_rss if rs.metadata.deletion_timestamp is None]
        assert d.spec.revision_history_limit is not None
        diff = len(cleanable) - d.spec.revision_history_limit
        if diff <= 0:
            return

        def by_revision(rs: ReplicaSet) -> tuple[int, float, str]:
            created, name = rs_by_creation_key(rs)
            return (du.revision(rs) or 0, created, name)

        for rs in sorted(cleanable, key=by_revision)[:diff]:
            if (
                rs.status.replicas != 0
                or du.replicas_of(rs) != 0
                or (rs.metadata.generation or 0) > (rs.status.observed_generation or 0)
            ):
                continue
            with contextlib.suppress(NotFound):
                self.store.delete("ReplicaSet", rs.namespace, rs.name)

    # --- status --------------------------------------------------------------------------------

    def write_status(self, d: Deployment) -> None:
        """UpdateStatus. The status strategy also takes the annotations (where the revision is
        kept); this store writes them through a metadata update first."""
        current = self.store.get_typed(Deployment, "Deployment", d.namespace, d.name)
        if current is None or current.metadata.uid != d.metadata.uid:
            return
        if (current.metadata.annotations or {}) != (d.metadata.annotations or {}):
            meta = current.copy_deep()
            meta.metadata.annotations = dict(d.metadata.annotations or {}) or None
            self.store.update(meta)
        self.store.update_status(d)

    def sync_status(self, all_rss: list[ReplicaSet | None], new_rs: ReplicaSet | None, d: Deployment) -> None:
        progress.sync_status(self, all_rss, new_rs, d)

    def sync_rollout_status(
        self, all_rss: list[ReplicaSet | None], new_rs: ReplicaSet | None, d: Deployment
    ) -> None:
        progress.sync_rollout_status(self, all_rss, new_rs, d)
