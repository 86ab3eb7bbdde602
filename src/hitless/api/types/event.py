"""core/v1 Event, as ``kubectl get events -o json`` shows it."""

from __future__ import annotations

from pydantic import Field

from hitless.api.types.base import K8sModel, MicroTime, Time
from hitless.api.types.meta import K8sObject, ObjectReference


class EventSource(K8sModel):
    component: str | None = None
    host: str | None = None


class EventSeries(K8sModel):
    count: int
    last_observed_time: MicroTime


class Event(K8sObject):
    api_version: str = "v1"
    kind: str = "Event"
    involved_object: ObjectReference
    reason: str
    message: str
    source: EventSource = Field(default_factory=EventSource)
    first_timestamp: Time | None = None
    last_timestamp: Time | None = None
    count: int = 1
    type: str = "Normal"
    event_time: MicroTime | None = None
    series: EventSeries | None = None
    reporting_component: str = ""
    reporting_instance: str = ""
