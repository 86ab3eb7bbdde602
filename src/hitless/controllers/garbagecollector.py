"""The garbage collector, for background cascading deletion.

When an object is deleted, every object whose ownerReferences all point to objects that no
longer exist is deleted in turn, with a plain delete: a ReplicaSet goes at once, a Pod gets its
graceful deletion (deletionTimestamp, its own terminationGracePeriodSeconds) and terminates as
any deleted pod does. So deleting a Deployment takes its ReplicaSets and then their pods, as
``kubectl delete deployment`` does on a cluster (propagationPolicy Background, the default).
Foreground deletion and orphaning are not modelled.
"""

from __future__ import annotations

import asyncio
import contextlib

from hitless.api.types.meta import K8sObject
from hitless.store.store import NotFound, Store, WatchEvent
from hitless.tasks import cancel_and_wait, spawn

# Kinds whose objects may be dependents (what the controllers create with ownerReferences).
DEPENDENT_KINDS: tuple[str, ...] = ("ReplicaSet", "Pod")
# StatefulSets and DaemonSets own pods, ControllerRevisions and (by retention policy) claims;
# CronJobs own Jobs, which own pods.
DEPENDENT_KINDS += ("ControllerRevision", "PersistentVolumeClaim", "Job")
OWNER_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "CronJob")


class GarbageCollector:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = spawn("garbage-collector", self._run())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _run(self) -> None:
        # On each (re)start: the dependents orphaned while nobody watched.
        await self._store.list_and_watch(None, self._on_event, initial=False, relisted=self.collect)

    def _on_event(self, event: WatchEvent) -> None:
        if event.type == "DELETED" and event.object.kind != "Event":
            self.collect()

    def collect(self) -> list[K8sObject]:
        """Delete every dependent whose owners are all gone; returns what was deleted."""
        live = {
            obj.metadata.uid for kind in {*OWNER_KINDS, *DEPENDENT_KINDS} for obj in self._store.objects(kind)
        }
        deleted: list[K8sObject] = []
        for kind in DEPENDENT_KINDS:
            for obj in self._store.objects(kind):
                refs = obj.metadata.owner_references or []
                if not refs or obj.metadata.deletion_timestamp is not None:
                    continue
                if any(ref.uid in live for ref in refs):
                    continue
                with contextlib.suppress(NotFound):
                    deleted.append(self._store.delete(kind, obj.namespace, obj.name))
        return deleted
