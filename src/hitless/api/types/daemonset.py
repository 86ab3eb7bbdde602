"""apps/v1 DaemonSet, fields in the order of ``k8s.io/api/apps/v1/types.go``."""

from __future__ import annotations

from pydantic import Field

from hitless.api.types.base import IntOrString, K8sModel, Time
from hitless.api.types.meta import K8sObject, LabelSelector
from hitless.api.types.pod import ConditionStatus, PodTemplateSpec

ROLLING_UPDATE = "RollingUpdate"
ON_DELETE = "OnDelete"


class RollingUpdateDaemonSet(K8sModel):
    max_unavailable: IntOrString | None = None
    max_surge: IntOrString | None = None


class DaemonSetUpdateStrategy(K8sModel):
    type: str | None = None
    rolling_update: RollingUpdateDaemonSet | None = None


class DaemonSetSpec(K8sModel):
    selector: LabelSelector
    template: PodTemplateSpec
    update_strategy: DaemonSetUpdateStrategy = Field(default_factory=DaemonSetUpdateStrategy)
    min_ready_seconds: int | None = None
    revision_history_limit: int | None = None


class DaemonSetCondition(K8sModel):
    type: str
    status: ConditionStatus
    last_transition_time: Time | None = None
    reason: str | None = None
    message: str | None = None


class DaemonSetStatus(K8sModel):
    # The four counts without omitempty in Go are always written.
    current_number_scheduled: int = 0
    number_misscheduled: int = 0
    desired_number_scheduled: int = 0
    number_ready: int = 0
    observed_generation: int | None = None
    updated_number_scheduled: int | None = None
    number_available: int | None = None
    number_unavailable: int | None = None
    collision_count: int | None = None
    conditions: list[DaemonSetCondition] | None = None


class DaemonSet(K8sObject):
    api_version: str = "apps/v1"
    kind: str = "DaemonSet"
    spec: DaemonSetSpec
    status: DaemonSetStatus = Field(default_factory=DaemonSetStatus)
