"""The StatefulSet control loop: revisions, then pods in ordinal order, then the rolling update.

After pkg/controller/statefulset/stateful_set_control.go (UpdateStatefulSet, performUpdate,
getStatefulSetRevisions, updateStatefulSet, processReplica, processCondemned,
updateStatefulSetAfterInvariantEstablished, truncateHistory, completeRollingUpdate) and
stateful_pod_control.go (the pod and claim writes, their Events). The rolling update takes the
MaxUnavailableStatefulSet path (``maxUnavailable`` pods at a time, 1 when unset, which is what
the gate-off path does too). With ``OrderedReady`` every step waits for the pods before it to be
Running and Ready (and available for ``minReadySeconds``); ``Parallel`` does not wait.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from hitless.api import loader
from hitless.api.types.controllerrevision import ControllerRevision
from hitless.api.types.meta import K8sObject, ObjectMeta, OwnerReference
from hitless.api.types.pod import Pod
from hitless.api.types.statefulset import DELETE, ON_DELETE, ROLLING_UPDATE, StatefulSet, StatefulSetStatus
from hitless.clock import Clock
from hitless.controllers import statefulset_utils as su
from hitless.controllers.controller_utils import controller_ref, scaled_value
from hitless.controllers.history import equal_revision, find_equal_revisions, next_revision, sort_revisions
from hitless.store.events import NORMAL, WARNING, EventRecorder
from hitless.store.store import AlreadyExists, NotFound, Store


@dataclass
class Revisions:
    current: ControllerRevision
    update: ControllerRevision
    collision_count: int


class StatefulSetControl:
    def __init__(self, store: Store, clock: Clock, recorder: EventRecorder) -> None:
        self._store = store
        self._clock = clock
        self._recorder = recorder

    # --- revisions -----------------------------------------------------------------------------

    def list_revisions(self, s: StatefulSet) -> list[ControllerRevision]:
        return sort_revisions(
            [
                r
                for r in self._store.objects("ControllerRevision", s.namespace)
                if isinstance(r, ControllerRevision)
                and (ref := controller_ref(r)) is not None
                and ref.uid == s.metadata.uid
            ]
        )

    def _revisions(self, s: StatefulSet, revisions: list[ControllerRevision]) -> Revisions:
        """getStatefulSetRevisions: the update revision is the set's template, found among the
        revisions (a roll back renumbers it) or created; the current one is status.currentRevision."""
        collision_count = s.status.collision_count or 0
        update = su.revision_for(s, next_revision(revisions), collision_count)
        equal = find_equal_revisions(revisions, update)
        if equal and equal_revision(revisions[-1], equal[-1]):
            update = revisions[-1]
        elif equal:
            renumbered = equal[-1].copy_deep()
            renumbered.revision = update.revision
            update = self._store.update(renumbered)
        else:
            update, collision_count = self._create_revision(s, update, collision_count)
        current = next((r for r in revisions if r.name == s.status.current_revision), None) or update
        return Revisions(current, update, collision_count)

    def _create_revision(
        self, s: StatefulSet, revision: ControllerRevision, collision_count: int
    ) -> tuple[ControllerRevision, int]:
        """history.CreateControllerRevision: a name taken by other data bumps the collision count."""
        while True:
            candidate = su.revision_for(s, revision.revision, collision_count)
            try:
                return self._store.create(candidate), collision_count
            except AlreadyExists:
                existing = self._store.get_typed(
                    ControllerRevision, "ControllerRevision", s.namespace, candidate.name
                )
                if existing is not None and existing.data == candidate.data:
                    return existing, collision_count
                collision_count += 1

    def _truncate_history(
        self, s: StatefulSet, pods: list[Pod], revisions: list[ControllerRevision], live: Revisions | None
    ) -> None:
        names = {su.pod_revision(p) for p in pods}
        if live is not None:
            names |= {live.current.name, live.update.name}
        history = [r for r in revisions if r.name not in names]
        limit = s.spec.revision_history_limit if s.spec.revision_history_limit is not None else 10
        if limit < 0 or len(history) <= limit:
            return
        for r in history[: len(history) - limit]:
            with contextlib.suppress(NotFound):
                self._store.delete("ControllerRevision", r.namespace, r.name)

    # --- the loop ------------------------------------------------------------------------------

    def update_stateful_set(self, s: StatefulSet, pods: list[Pod]) -> StatefulSetStatus:
        revisions = self.list_revisions(s)
        live = self._revisions(s, revisions)
        status = self._update(s, live, pods)
        self._update_status(s, status)
        self._truncate_history(s, pods, self.list_revisions(s), live)
        return status

    def _status(self, s: StatefulSet, live: Revisions, *pod_lists: list[Pod]) -> StatefulSetStatus:
        """updateStatus / computeReplicaStatus."""
        now = self._clock.wall()
        min_ready = s.spec.min_ready_seconds or 0
        replicas = ready = available = current = updated = 0
        for pods in pod_lists:
            for pod in pods:
                if su.is_created(pod):
                    replicas += 1
                if su.is_running_and_ready(pod):
                    ready += 1
                    if su.is_running_and_available(pod, min_ready, now):
                        available += 1
                if su.is_created(pod) and not su.is_terminating(pod):
                    revision = su.pod_revision(pod)
                    current += revision == live.current.name
                    updated += revision == live.update.name
        return StatefulSetStatus(
            observed_generation=s.metadata.generation,
            replicas=replicas,
            ready_replicas=ready or None,
            current_replicas=current or None,
            updated_replicas=updated or None,
            current_revision=live.current.name,
            update_revision=live.update.name,
            collision_count=live.collision_count,
            available_replicas=available,
        )

    def _update(self, s: StatefulSet, live: Revisions, pods: list[Pod]) -> StatefulSetStatus:
        """updateStatefulSet."""
        current_set = su.apply_revision(s, live.current)
        update_set = su.apply_revision(s, live.update)
        now = self._clock.wall()
        min_ready = s.spec.min_ready_seconds or 0
        start = su.start_ordinal(s)
        slots: list[Pod | None] = [None] * su.replicas_of(s)
        condemned: list[Pod] = []
        for pod in pods:
            ordinal = su.ordinal_of(pod)
            if su.in_ordinal_range(pod, s):
                slots[ordinal - start] = pod
            elif ordinal >= 0:
                condemned.append(pod)
        replicas = [
            pod
            if pod is not None
            else su.new_versioned_pod(current_set, update_set, live.current.name, live.update.name, start + i)
            for i, pod in enumerate(slots)
        ]
        condemned.sort(key=su.ordinal_of, reverse=True)
        first_unavailable: Pod | None = None
        for pod in [*replicas, *reversed(condemned)]:
            if su.is_unavailable(pod, min_ready, now):
                first_unavailable = pod
                break
        if s.metadata.deletion_timestamp is not None:
            return self._status(s, live, replicas, condemned)
        monotonic = not su.allows_burst(s)

        for i in range(len(replicas)):
            if self._process_replica(s, update_set, monotonic, replicas, i) and monotonic:
                return self._status(s, live, replicas, condemned)
        for pod in condemned:
            self._fix_claims(update_set, pod, condemned=True)
        for i in range(len(condemned)):
            if self._process_condemned(s, first_unavailable, monotonic, condemned, i) and monotonic:
                return self._status(s, live, replicas, condemned)
        status = self._status(s, live, replicas, condemned)
        if s.spec.update_strategy.type == ON_DELETE:
            return status
        return self._rolling_update(s, replicas, live, status)

    def _process_replica(
        self, s: StatefulSet, update_set: StatefulSet, monotonic: bool, replicas: list[Pod], i: int
    ) -> bool:
        """processReplica: True when this sync can go no further (in monotonic mode)."""
        pod = replicas[i]
        now = self._clock.wall()
        min_ready = s.spec.min_ready_seconds or 0
        if pod.status.phase in ("Failed", "Succeeded"):
            # A pod that ran to completion is restarted whatever its exit code, once it is gone.
            if pod.metadata.deletion_timestamp is None:
                self._delete_pod(s, pod)
            return True
        if not su.is_created(pod):
            replicas[i] = self._create_pod(s, pod)
            if monotonic:
                return True
            pod = replicas[i]
        if su.is_terminating(pod) and monotonic:
            return True
        if not su.is_running_and_ready(pod) and monotonic:
            return True
        if not su.is_running_and_available(pod, min_ready, now) and monotonic:
            return True
        if not (su.identity_matches(s, pod) and su.storage_matches(s, pod)):
            self._update_pod(update_set, pod)
        self._fix_claims(update_set, pod, condemned=False)
        return False

    def _process_condemned(
        self, s: StatefulSet, first_unavailable: Pod | None, monotonic: bool, condemned: list[Pod], i: int
    ) -> bool:
        pod = condemned[i]
        if su.is_terminating(pod):
            return monotonic
        now = self._clock.wall()
        min_ready = s.spec.min_ready_seconds or 0
        healthy = su.is_running_and_ready(pod) and su.is_running_and_available(pod, min_ready, now)
        if monotonic and pod is not first_unavailable and not healthy:
            return True
        self._delete_pod(s, pod)
        return True

    def _rolling_update(
        self, s: StatefulSet, replicas: list[Pod], live: Revisions, status: StatefulSetStatus
    ) -> StatefulSetStatus:
        """updateStatefulSetAfterInvariantEstablished: from the highest ordinal down to the
        partition, delete up to maxUnavailable - (pods unavailable now) pods of an old revision;
        the next syncs recreate them at the update revision."""
        rolling = s.spec.update_strategy.rolling_update
        update_min, max_unavailable = 0, 1
        if rolling is not None:
            update_min = rolling.partition or 0
            if rolling.max_unavailable is not None:
                max_unavailable = max(1, scaled_value(rolling.max_unavailable, su.replicas_of(s), True))
        now = self._clock.wall()
        min_ready = s.spec.min_ready_seconds or 0
        unavailable = sum(1 for p in replicas if su.is_unavailable(p, min_ready, now))
        if unavailable > max_unavailable:
            return status
        budget = max_unavailable - unavailable
        for target in range(len(replicas) - 1, update_min - 1, -1):
            if budget <= 0:
                break
            pod = replicas[target]
            if su.pod_revision(pod) != live.update.name and not su.is_terminating(pod):
                self._delete_pod(s, pod)
                budget -= 1
                status.current_replicas = (status.current_replicas or 0) - 1 or None
        return status

    def _update_status(self, s: StatefulSet, status: StatefulSetStatus) -> None:
        """updateStatefulSetStatus with completeRollingUpdate: once every pod is updated and ready,
        the update revision becomes the current one."""
        if (
            s.spec.update_strategy.type == ROLLING_UPDATE
            and (status.updated_replicas or 0) == status.replicas
            and (status.ready_replicas or 0) == status.replicas
        ):
            status.current_replicas = status.updated_replicas
            status.current_revision = status.update_revision
        current = self._store.get_typed(StatefulSet, "StatefulSet", s.namespace, s.name)
        if current is None or current.metadata.uid != s.metadata.uid:
            return
        status.conditions = current.status.conditions
        new = current.copy_deep()
        new.status = status
        self._store.update_status(new)

    # --- pod and claim writes (stateful_pod_control.go) ---------------------------------------

    def _event(self, s: StatefulSet, verb: str, pod: Pod, error: str | None = None) -> None:
        if error is None:
            message = f"{verb} Pod {pod.name} in StatefulSet {s.name} successful"
            self._recorder.event(s, NORMAL, f"Successful{verb.capitalize()}", message)
        else:
            message = f"{verb} Pod {pod.name} in StatefulSet {s.name} failed error: {error}"
            self._recorder.event(s, WARNING, f"Failed{verb.capitalize()}", message)

    def _create_pod(self, s: StatefulSet, pod: Pod) -> Pod:
        """CreateStatefulPod: the claims first, then the pod."""
        self._create_claims(s, pod)
        try:
            created = self._store.create(pod)
        except AlreadyExists as exc:
            self._event(s, "create", pod, str(exc))
            raise
        self._event(s, "create", created)
        return created

    def _delete_pod(self, s: StatefulSet, pod: Pod) -> None:
        try:
            self._store.delete("Pod", pod.namespace, pod.name)
        except NotFound:
            return
        self._event(s, "delete", pod)

    def _update_pod(self, s: StatefulSet, pod: Pod) -> None:
        """UpdateStatefulPod: put back the identity labels and the claims' volumes."""
        updated = pod.copy_deep()
        su.update_identity(s, updated)
        self._create_claims(s, updated)
        if not su.storage_matches(s, updated):
            su.update_storage(s, updated)
        with contextlib.suppress(NotFound):
            self._store.update(updated)
            self._event(s, "update", updated)

    def _create_claims(self, s: StatefulSet, pod: Pod) -> None:
        """createPersistentVolumeClaims: one claim per template for this ordinal, made once; a
        claim outlives its pod, so the replacement pod of an ordinal gets the same claim. The
        claims are plain stored objects here: binding them to storage is the volume binder's."""
        ordinal = su.ordinal_of(pod)
        for template in s.spec.volume_claim_templates or []:
            name = su.claim_name(s, str((template.get("metadata") or {}).get("name") or ""), ordinal)
            if self._store.get("PersistentVolumeClaim", s.namespace, name) is not None:
                continue
            meta = dict(template.get("metadata") or {})
            meta.update(
                name=name, namespace=s.namespace, labels=dict(s.spec.selector.match_labels or {}) or None
            )
            claim = _claim(
                {**template, "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta}
            )
            claim.metadata.owner_references = self._claim_owners(s, pod, condemned=False) or None
            with contextlib.suppress(AlreadyExists):
                self._store.create(claim)
                self._recorder.event(
                    s,
                    NORMAL,
                    "SuccessfulCreate",
                    f"create Claim {name} Pod {pod.name} in StatefulSet {s.name} success",
                )

    def _claim_owners(self, s: StatefulSet, pod: Pod, condemned: bool) -> list[OwnerReference]:
        """updateClaimOwnerRefForSetAndPod: whenScaled Delete makes a condemned pod the owner (its
        claim goes with it); otherwise whenDeleted Delete makes the set an owner."""
        policy = s.spec.persistent_volume_claim_retention_policy
        owners: list[OwnerReference] = []
        if policy is not None and policy.when_scaled == DELETE and condemned and pod.metadata.uid:
            # A condemned pod's claim goes with the pod only, whatever whenDeleted says.
            owners.append(su.non_controller_ref(pod))
        elif policy is not None and policy.when_deleted == DELETE:
            owners.append(su.non_controller_ref(s))
        return owners

    def _fix_claims(self, s: StatefulSet, pod: Pod, condemned: bool) -> None:
        """ClaimsMatchRetentionPolicy / UpdatePodClaimForRetentionPolicy."""
        want = {r.uid for r in self._claim_owners(s, pod, condemned)}
        for name in su.template_names(s):
            claim = self._store.get(
                "PersistentVolumeClaim", s.namespace, su.claim_name(s, name, su.ordinal_of(pod))
            )
            if claim is None:
                continue
            refs = claim.metadata.owner_references or []
            mine = {s.metadata.uid, pod.metadata.uid}
            have = {r.uid for r in refs if r.uid in mine}
            if have == want:
                continue
            updated = claim.copy_deep()
            kept = [r for r in refs if r.uid not in mine]
            updated.metadata.owner_references = kept + self._claim_owners(s, pod, condemned) or None
            with contextlib.suppress(NotFound):
                self._store.update(updated)


def _claim(data: dict[str, object]) -> K8sObject:
    """A claim as the type the API layer knows for it, or kept verbatim as a generic object."""
    cls = loader.SUPPORTED.get(("v1", "PersistentVolumeClaim"), K8sObject)
    obj = cls.model_validate(data)
    if obj.metadata is None:
        obj.metadata = ObjectMeta()
    return obj
