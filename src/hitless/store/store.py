"""The object store: what the API server and etcd are to a cluster.

Components never call each other; they write objects here and react to watches, as Kubernetes
components do. The store keeps one global ``resourceVersion`` counter, stores objects defaulted and
with their annotations verbatim, and keeps a history of changes so that a watch can start from a
version (what a future Kubernetes-compatible API over this store needs).

Objects handed out are the stored instances: treat them as read-only and write changes back with
:meth:`Store.update` / :meth:`Store.update_status` on a copy (``obj.copy_deep()``).
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Literal, TypeVar, cast

from hitless.api.types.base import K8sModel
from hitless.api.types.meta import K8sObject
from hitless.api.types.pod import Pod, PodCondition
from hitless.api.types.service import Service
from hitless.clock import Clock
from hitless.store import strategy
from hitless.store.allocator import ServiceAllocator
from hitless.store.strategy import before_delete, prepare_pod_for_create, update_pod_condition
from hitless.tasks import report_failure

EventType = Literal["ADDED", "MODIFIED", "DELETED"]
ObjT = TypeVar("ObjT", bound=K8sObject)

# Kinds whose status is written only through the status subresource: an update of the main
# resource keeps the stored status, an update of the status keeps the stored spec.
_STATUS_SUBRESOURCE = {"Pod", "Deployment", "ReplicaSet", "Service", "Node", "PodDisruptionBudget"}
_STATUS_SUBRESOURCE |= {"StatefulSet", "DaemonSet", "Job", "CronJob"}
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
MAX_GENERATED_NAME_LENGTH = 63 - 5
# Kinds whose metadata.generation tracks spec changes.
_GENERATION = {"Pod", "Deployment", "ReplicaSet", "Service", "PodDisruptionBudget"}
_GENERATION |= {"StatefulSet", "DaemonSet", "Job", "CronJob"}


# A watcher that falls this far behind is dropped, as the API server's watch cache drops a watcher
# whose buffer is full; it has to list and watch again.
WATCH_QUEUE_LIMIT = 100_000


class NotFound(KeyError):
    pass


class WatchExpired(Exception):
    """The watch was closed because its consumer fell behind: list and watch again."""


class AlreadyExists(ValueError):
    pass


@dataclass(frozen=True)
class WatchEvent:
    type: EventType
    object: K8sObject
    resource_version: int
    # A write of the status subresource: spec and metadata are as they were.
    status_only: bool = False


class Watch:
    """An async iterator of :class:`WatchEvent`, filtered by kind. Close it when done."""

    def __init__(self, store: Store, kinds: frozenset[str] | None, limit: int = WATCH_QUEUE_LIMIT) -> None:
        self._store = store
        self._kinds = kinds
        self._limit = limit
        self._queue: asyncio.Queue[WatchEvent | None] = asyncio.Queue()
        self.closed = False
        self.expired = False

    def wants(self, event: WatchEvent) -> bool:
        return self._kinds is None or event.object.kind in self._kinds

    def _push(self, event: WatchEvent) -> None:
        if self._queue.qsize() >= self._limit:
            # Keep memory bounded: drop what is queued and tell the consumer to start over.
            self.expired = True
            while not self._queue.empty():
                self._queue.get_nowait()
            self.close()
            return
        self._queue.put_nowait(event)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._store._unregister(self)
            self._queue.put_nowait(None)

    def __aiter__(self) -> AsyncIterator[WatchEvent]:
        return self

    async def __anext__(self) -> WatchEvent:
        event = await self._queue.get()
        if event is None:
            if self.expired:
                raise WatchExpired("watch closed: the consumer fell behind")
            raise StopAsyncIteration
        return event

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Store:
    def __init__(self, clock: Clock, history: int = 20000, seed: int | None = None) -> None:
        self._clock = clock
        self._objects: dict[tuple[str, str, str], K8sObject] = {}
        # The same objects by kind: controllers and the Event recorder list one kind at a time,
        # and a scan of every object per listing grows with the cluster (bench/bench_probes.py).
        self._by_kind: dict[str, dict[tuple[str, str], K8sObject]] = {}
        self._rv = 0
        self._watches: list[Watch] = []
        self._history: deque[WatchEvent] = deque(maxlen=history)
        self._listeners: list[Callable[[WatchEvent], None]] = []
        # Cluster IPs and node ports, allocated on create as the API server's Service registry does.
        self.services = ServiceAllocator(seed=seed)
        # Mutating admission of created objects (the API server's plugins, when one is served:
        # apiserver/admission.py); each returns the object to create.
        self.admission: list[Callable[[K8sObject], K8sObject]] = []

    # --- reads ---------------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        return self._rv

    def get(self, kind: str, namespace: str, name: str) -> K8sObject | None:
        return self._objects.get((kind, namespace, name))

    def get_typed(self, cls: type[ObjT], kind: str, namespace: str, name: str) -> ObjT | None:
        obj = self.get(kind, namespace, name)
        return obj if isinstance(obj, cls) else None

    def objects(
        self,
        kind: str,
        namespace: str | None = None,
        where: Callable[[K8sObject], bool] | None = None,
    ) -> list[K8sObject]:
        return [
            obj
            for (ns, _), obj in self._by_kind.get(kind, {}).items()
            if (namespace is None or ns == namespace) and (where is None or where(obj))
        ]

    def count(self, kind: str) -> int:
        return len(self._by_kind.get(kind, ()))

    def pods(self, where: Callable[[Pod], bool] | None = None) -> list[Pod]:
        return [p for p in self.objects("Pod") if isinstance(p, Pod) and (where is None or where(p))]

    # --- writes --------------------------------------------------------------------------------

    def create(self, obj: ObjT) -> ObjT:
        obj = obj.copy_deep()
        meta = obj.metadata
        if meta.namespace is None and obj.namespaced():
            meta.namespace = "default"
        if not meta.name:
            if not meta.generate_name:
                raise ValueError(f"{obj.kind}: name or generateName is required")
            # names.SimpleNameGenerator: five characters of utilrand's vowel-free alphabet; a
            # name that is taken is generated again (the API server fails, the client retries).
            # A long prefix is cut so the name stays within 63 characters (apiserver
            # pkg/storage/names/generate.go, MaxGeneratedNameLength = 63 - 5).
            base = meta.generate_name[:MAX_GENERATED_NAME_LENGTH]
            while True:
                meta.name = base + "".join(random.choices(_NAME_ALPHABET, k=5))
                if (obj.kind, meta.namespace or "", meta.name) not in self._objects:
                    break
        if obj.key in self._objects:
            raise AlreadyExists(f'{obj.kind.lower()}s "{meta.name}" already exists')
        for admit in self.admission:
            obj = cast(ObjT, admit(obj))
            meta = obj.metadata
        meta.uid = str(uuid.uuid4())
        meta.creation_timestamp = self._clock.wall()
        if obj.kind in _GENERATION:
            meta.generation = 1
        if isinstance(obj, Pod):
            prepare_pod_for_create(obj)
        if isinstance(obj, Service):
            self.services.allocate(obj)
        strategy.daemonset_template_generation(None, obj)
        strategy.generate_job_selector(obj)
        self._commit("ADDED", obj)
        return obj

    def update(self, obj: ObjT) -> ObjT:
        """Replace an object (not its status, for kinds with a status subresource)."""
        current = self._require(obj)
        obj = obj.copy_deep()
        self._keep_identity(current, obj)
        if isinstance(current, Service) and isinstance(obj, Service):
            self.services.keep(current, obj)
        if obj.kind in _STATUS_SUBRESOURCE:
            obj.__dict__["status"] = current.__dict__.get("status")
        if obj.kind in _GENERATION and _spec(obj) != _spec(current):
            obj.metadata.generation = (current.metadata.generation or 0) + 1
        else:
            obj.metadata.generation = current.metadata.generation
        strategy.daemonset_template_generation(current, obj)
        if obj.to_json() == current.to_json():
            return current  # a no-op write does not bump resourceVersion, as on a real API server
        self._commit("MODIFIED", obj)
        return obj

    def keep_deleting(self, obj: ObjT) -> ObjT:
        """Store ``obj`` with the ``deletionTimestamp`` it carries: an object a DELETE keeps for its
        finalizers (apiserver registry/generic/registry/store.go updateForGracefulDeletionAndFinalizers)."""
        current = self._require(obj)
        obj = obj.copy_deep()
        obj.metadata.uid = current.metadata.uid
        obj.metadata.creation_timestamp = current.metadata.creation_timestamp
        self._commit("MODIFIED", obj)
        return obj

    def update_status(self, obj: ObjT) -> ObjT:
        """Replace the status of an object, keeping everything else as stored."""
        current = self._require(obj)
        status = obj.__dict__.get("status")
        before = current.__dict__.get("status")
        # Only the status can differ: comparing it alone spares serializing the whole object
        # on every status write (the kubelet writes one at every sync).
        if _json(status) == _json(before):
            return current
        new = current.copy_deep()
        new.__dict__["status"] = status.copy_deep() if isinstance(status, K8sModel) else status
        self._commit("MODIFIED", new, status_only=True)
        return new

    def bind(self, namespace: str, name: str, node_name: str) -> Pod:
        """The pods/binding subresource: set spec.nodeName (once) and PodScheduled, no new generation."""
        current = self._objects.get(("Pod", namespace, name))
        if not isinstance(current, Pod):
            raise NotFound(f'pods "{name}" not found')
        if current.spec.node_name:
            raise AlreadyExists(f'pod {name} is already assigned to node "{current.spec.node_name}"')
        new = current.copy_deep()
        new.spec.node_name = node_name
        update_pod_condition(new.status, PodCondition(type="PodScheduled", status="True"), self._clock.wall())
        self._commit("MODIFIED", new)
        return new

    def delete(
        self, kind: str, namespace: str, name: str, grace_period_seconds: int | None = None
    ) -> K8sObject:
        """Delete an object as the API server does.

        A Pod is deleted gracefully (:func:`~hitless.store.strategy.before_delete`): a pod that
        runs on a node gets ``deletionTimestamp`` (now + grace) and ``deletionGracePeriodSeconds``,
        its kubelet terminates it and then deletes it again with a grace period of 0. A second
        delete may only shorten the grace period. Every removal of a pod is preceded by a write
        of ``deletionGracePeriodSeconds: 0``, as on a real API server.
        """
        current = self._objects.get((kind, namespace, name))
        if current is None:
            raise NotFound(f'{kind.lower()}s "{name}" not found')
        if isinstance(current, Pod):
            decision = before_delete(current, grace_period_seconds, self._clock.wall())
            if decision.timestamp is not None:
                new = current.copy_deep()
                if current.metadata.deletion_timestamp is None and new.metadata.generation:
                    new.metadata.generation += 1
                new.metadata.deletion_timestamp = decision.timestamp
                new.metadata.deletion_grace_period_seconds = decision.grace
                self._commit("MODIFIED", new)
                current = new
            if not decision.remove:
                return current
        del self._objects[(kind, namespace, name)]
        del self._by_kind[kind][(namespace, name)]
        if isinstance(current, Service):
            self.services.release(current)
        self._commit("DELETED", current, store=False)
        return current

    # --- watches -------------------------------------------------------------------------------

    def watch(self, kinds: Iterable[str] | None = None, initial: bool = False) -> Watch:
        """Watch changes from now on; with ``initial``, first an ADDED for every current object."""
        w = Watch(self, frozenset(kinds) if kinds is not None else None)
        if initial:
            for obj in list(self._objects.values()):
                event = WatchEvent("ADDED", obj, int(obj.metadata.resource_version or 0))
                if w.wants(event):
                    w._push(event)
        self._watches.append(w)
        return w

    async def list_and_watch(
        self,
        kinds: Iterable[str] | None,
        handle: Callable[[WatchEvent], object],
        *,
        initial: bool = True,
        relisted: Callable[[], object] | None = None,
    ) -> None:
        """client-go's ListAndWatch loop: every change (after an ADDED per current object, with
        ``initial``) goes to ``handle``; a watch that expires is started over, and ``relisted``
        runs each time a watch (re)starts, before its events, so that what changed unseen can be
        reconciled. Returns when the watch is closed; runs until cancelled otherwise."""
        while True:
            with self.watch(kinds, initial=initial) as watch:
                if relisted is not None:
                    relisted()
                try:
                    async for event in watch:
                        handle(event)
                    return
                except WatchExpired:
                    continue

    def history_since(self, resource_version: int) -> list[WatchEvent] | None:
        """Changes after ``resource_version``, or None when they are no longer kept (410 Gone)."""
        if self._history and self._history[0].resource_version > resource_version + 1:
            return None
        return [e for e in self._history if e.resource_version > resource_version]

    def add_listener(self, fn: Callable[[WatchEvent], None]) -> None:
        """A synchronous callback on every change, called before watchers are woken."""
        self._listeners.append(fn)

    def _unregister(self, w: Watch) -> None:
        if w in self._watches:
            self._watches.remove(w)

    # --- internals -----------------------------------------------------------------------------

    def _require(self, obj: ObjT) -> ObjT:
        current = self._objects.get(obj.key)
        if current is None:
            raise NotFound(f'{obj.kind.lower()}s "{obj.name}" not found')
        return cast(ObjT, current)

    @staticmethod
    def _keep_identity(current: K8sObject, new: K8sObject) -> None:
        new.metadata.uid = current.metadata.uid
        new.metadata.creation_timestamp = current.metadata.creation_timestamp
        new.metadata.deletion_timestamp = current.metadata.deletion_timestamp
        new.metadata.deletion_grace_period_seconds = current.metadata.deletion_grace_period_seconds

    def _commit(
        self, type_: EventType, obj: K8sObject, store: bool = True, status_only: bool = False
    ) -> None:
        self._rv += 1
        if store:
            obj.metadata.resource_version = str(self._rv)
            self._objects[obj.key] = obj
            self._by_kind.setdefault(obj.key[0], {})[obj.key[1:]] = obj
        else:
            # The deleted object, as of the revision that deleted it.
            obj = obj.copy_deep()
            obj.metadata.resource_version = str(self._rv)
        event = WatchEvent(type_, obj, self._rv, status_only)
        self._history.append(event)
        for fn in self._listeners:
            try:
                fn(event)
            except Exception as exc:
                # The write is done: a listener's bug is the run's failure, not the writer's.
                report_failure(f"store listener {_listener_name(fn)}", exc)
        for w in list(self._watches):
            if w.wants(event):
                w._push(event)


def _listener_name(fn: Callable[[WatchEvent], None]) -> str:
    name = getattr(fn, "__qualname__", None)
    return name if isinstance(name, str) else type(fn).__name__


def _json(value: object) -> object:
    return value.to_json() if isinstance(value, K8sModel) else value


def _spec(obj: K8sObject) -> object:
    return obj.to_json().get("spec")
