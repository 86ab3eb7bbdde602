"""Typed API objects. Deployment and Service types live beside Pod in this package."""

from hitless.api.types.base import K8sModel
from hitless.api.types.event import Event, EventSource
from hitless.api.types.meta import K8sObject, ObjectMeta, ObjectReference, OwnerReference
from hitless.api.types.pod import Container, ContainerStatus, Pod, PodSpec, PodStatus, Probe

__all__ = [
    "Container",
    "ContainerStatus",
    "Event",
    "EventSource",
    "K8sModel",
    "K8sObject",
    "ObjectMeta",
    "ObjectReference",
    "OwnerReference",
    "Pod",
    "PodSpec",
    "PodStatus",
    "Probe",
]
