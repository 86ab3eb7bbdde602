"""apps/v1 Deployment and ReplicaSet, fields in the order of ``k8s.io/api/apps/v1/types.go``."""

from __future__ import annotations

from pydantic import Field

from hitless.api.types.base import IntOrString, K8sModel, Time
from hitless.api.types.meta import K8sObject, LabelSelector
from hitless.api.types.pod import ConditionStatus, PodTemplateSpec

# --- Deployment ------------------------------------------------------------------------------


class RollingUpdateDeployment(K8sModel):
    max_unavailable: IntOrString | None = None
    max_surge: IntOrString | None = None


class DeploymentStrategy(K8sModel):
    type: str | None = None
    rolling_update: RollingUpdateDeployment | None = None


class DeploymentSpec(K8sModel):
    replicas: int | None = None
    selector: LabelSelector
    template: PodTemplateSpec
    strategy: DeploymentStrategy = Field(default_factory=DeploymentStrategy)
    min_ready_seconds: int | None = None
    revision_history_limit: int | None = None
    paused: bool | None = None
    progress_deadline_seconds: int | None = None


class DeploymentCondition(K8sModel):
    type: str
    status: ConditionStatus
    last_update_time: Time | None = None
    last_transition_time: Time | None = None
    reason: str | None = None
    message: str | None = None


class DeploymentStatus(K8sModel):
    observed_generation: int | None = None
    replicas: int | None = None
    updated_replicas: int | None = None
    ready_replicas: int | None = None
    available_replicas: int | None = None
    unavailable_replicas: int | None = None
    terminating_replicas: int | None = None
    conditions: list[DeploymentCondition] | None = None
    collision_count: int | None = None

    def condition(self, type_: str) -> DeploymentCondition | None:
        for c in self.conditions or []:
            if c.type == type_:
                return c
        return None


class Deployment(K8sObject):
    api_version: str = "apps/v1"
    kind: str = "Deployment"
    spec: DeploymentSpec
    status: DeploymentStatus = Field(default_factory=DeploymentStatus)


# --- ReplicaSet ------------------------------------------------------------------------------


class ReplicaSetSpec(K8sModel):
    replicas: int | None = None
    min_ready_seconds: int | None = None
    selector: LabelSelector
    template: PodTemplateSpec | None = None


class ReplicaSetCondition(K8sModel):
    type: str
    status: ConditionStatus
    last_transition_time: Time | None = None
    reason: str | None = None
    message: str | None = None


class ReplicaSetStatus(K8sModel):
    # Go's Replicas has no omitempty: a ReplicaSet scaled to zero still shows "replicas": 0.
    replicas: int = 0
    fully_labeled_replicas: int | None = None
    ready_replicas: int | None = None
    available_replicas: int | None = None
    terminating_replicas: int | None = None
    observed_generation: int | None = None
    conditions: list[ReplicaSetCondition] | None = None


class ReplicaSet(K8sObject):
    api_version: str = "apps/v1"
    kind: str = "ReplicaSet"
    spec: ReplicaSetSpec
    status: ReplicaSetStatus = Field(default_factory=ReplicaSetStatus)
