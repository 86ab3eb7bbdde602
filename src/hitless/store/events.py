"""Events, recorded into the store as core/v1 Event objects.

Like client-go's event correlator, an Event that repeats (same object, field path, type, reason,
message and source) is not written again: its ``count`` goes up and ``lastTimestamp`` and
``series.lastObservedTime`` move, so ``BackOff`` every few seconds is one Event with a count, as
``kubectl get events`` shows it. Every occurrence is still a store change, so a watcher sees it.
"""

from __future__ import annotations

from typing import Any

from hitless.api.types.event import Event, EventSeries, EventSource
from hitless.api.types.meta import K8sObject, ObjectMeta, ObjectReference
from hitless.clock import Clock
from hitless.store.store import Store

NORMAL = "Normal"
WARNING = "Warning"

# Kubernetes keeps Events for an hour; a long `hitless up` keeps at most this many.
MAX_EVENTS = 5000


def object_reference(obj: K8sObject, field_path: str | None = None) -> ObjectReference:
    return ObjectReference(
        kind=obj.kind,
        namespace=obj.metadata.namespace,
        name=obj.metadata.name,
        uid=obj.metadata.uid,
        api_version=obj.api_version,
        resource_version=obj.metadata.resource_version,
        field_path=field_path,
    )


class EventRecorder:
    """Records Events as one component (``kubelet`` on ``node-1``, ``default-scheduler``...)."""

    def __init__(self, store: Store, clock: Clock, component: str, host: str | None = None) -> None:
        self._store = store
        self._clock = clock
        self._component = component
        self._host = host
        self._seen: dict[tuple[Any, ...], str] = {}
        self._last_nanos: dict[str | None, int] = {}

    def event(
        self,
        obj: K8sObject,
        type_: str,
        reason: str,
        message: str,
        field_path: str | None = None,
    ) -> Event:
        ref = object_reference(obj, field_path)
        key = (ref.uid, ref.field_path, type_, reason, message, ref.namespace)
        now = self._clock.wall()
        name = self._seen.get(key)
        existing = self._store.get("Event", ref.namespace or "default", name) if name else None
        if name is not None and not isinstance(existing, Event):
            del self._seen[key]  # garbage-collected meanwhile: this occurrence starts a new Event
        if isinstance(existing, Event):
            updated = existing.copy_deep()
            updated.count += 1
            updated.last_timestamp = now
            updated.series = EventSeries(count=updated.count, last_observed_time=now)
            return self._store.update(updated)
        self._gc()
        # client-go names an Event "<object>.<hex nanoseconds>".
        # Past the last name this recorder gave the object: thousands of Events on one object in
        # one instant (a fake clock, a ReplicaSet creating its pods) would otherwise probe for a
        # free name from the same start each time.
        nanos = max(int(now.timestamp() * 1e9), self._last_nanos.get(ref.name, -1) + 1)
        while self._store.get("Event", ref.namespace or "default", f"{ref.name}.{nanos:x}"):
            nanos += 1
        event_name = f"{ref.name}.{nanos:x}"
        self._last_nanos[ref.name] = nanos
        created = self._store.create(
            Event(
                metadata=ObjectMeta(name=event_name, namespace=ref.namespace or "default"),
                involved_object=ref,
                reason=reason,
                message=message,
                source=EventSource(component=self._component, host=self._host),
                first_timestamp=now,
                last_timestamp=now,
                count=1,
                type=type_,
                event_time=now,
                reporting_component=self._component,
                reporting_instance=self._host or "",
            )
        )
        self._seen[key] = event_name
        return created

    def _gc(self) -> None:
        if self._store.count("Event") < MAX_EVENTS:
            return
        events = self._store.objects("Event")
        events.sort(key=lambda e: int(e.metadata.resource_version or 0))
        for e in events[: len(events) - MAX_EVENTS + 1]:
            self._store.delete("Event", e.namespace, e.name)
        # Forget the Events that are gone, whichever recorder removed them, so this map stays
        # as bounded as the store's Events.
        self._seen = {
            key: name
            for key, name in self._seen.items()
            if self._store.get("Event", key[5] or "default", name) is not None
        }
