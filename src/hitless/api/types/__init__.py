"""Typed API objects: Pod, Deployment, ReplicaSet, Service, Event and their parts."""

from hitless.api.types.apps import (
    Deployment,
    DeploymentCondition,
    DeploymentSpec,
    DeploymentStatus,
    DeploymentStrategy,
    ReplicaSet,
    ReplicaSetCondition,
    ReplicaSetSpec,
    ReplicaSetStatus,
    RollingUpdateDeployment,
)
from hitless.api.types.base import K8sModel
from hitless.api.types.event import Event, EventSource
from hitless.api.types.meta import (
    K8sObject,
    LabelSelector,
    LabelSelectorRequirement,
    ObjectMeta,
    ObjectReference,
    OwnerReference,
)
from hitless.api.types.pod import Container, ContainerStatus, Pod, PodSpec, PodStatus, PodTemplateSpec, Probe
from hitless.api.types.service import (
    LoadBalancerIngress,
    LoadBalancerStatus,
    Service,
    ServicePort,
    ServiceSpec,
    ServiceStatus,
    SessionAffinityConfig,
)

__all__ = [
    "Container",
    "ContainerStatus",
    "Deployment",
    "DeploymentCondition",
    "DeploymentSpec",
    "DeploymentStatus",
    "DeploymentStrategy",
    "Event",
    "EventSource",
    "K8sModel",
    "K8sObject",
    "LabelSelector",
    "LabelSelectorRequirement",
    "LoadBalancerIngress",
    "LoadBalancerStatus",
    "ObjectMeta",
    "ObjectReference",
    "OwnerReference",
    "Pod",
    "PodSpec",
    "PodStatus",
    "PodTemplateSpec",
    "Probe",
    "ReplicaSet",
    "ReplicaSetCondition",
    "ReplicaSetSpec",
    "ReplicaSetStatus",
    "RollingUpdateDeployment",
    "Service",
    "ServicePort",
    "ServiceSpec",
    "ServiceStatus",
    "SessionAffinityConfig",
]
