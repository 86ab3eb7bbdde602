"""apps/v1 StatefulSet, fields in the order of ``k8s.io/api/apps/v1/types.go``."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from hitless.api.types.base import IntOrString, K8sModel, Time
from hitless.api.types.meta import K8sObject, LabelSelector
from hitless.api.types.pod import ConditionStatus, PodTemplateSpec

ORDERED_READY = "OrderedReady"
PARALLEL = "Parallel"
ROLLING_UPDATE = "RollingUpdate"
ON_DELETE = "OnDelete"
RETAIN = "Retain"
DELETE = "Delete"


class RollingUpdateStatefulSetStrategy(K8sModel):
    partition: int | None = None
    max_unavailable: IntOrString | None = None


class StatefulSetUpdateStrategy(K8sModel):
    type: str | None = None
    rolling_update: RollingUpdateStatefulSetStrategy | None = None


class StatefulSetPersistentVolumeClaimRetentionPolicy(K8sModel):
    when_deleted: str | None = None
    when_scaled: str | None = None


class StatefulSetOrdinals(K8sModel):
    start: int = 0


class StatefulSetSpec(K8sModel):
    replicas: int | None = None
    selector: LabelSelector
    template: PodTemplateSpec
    # PersistentVolumeClaims as written; the claims are the volumes issue's kind, kept verbatim.
    volume_claim_templates: list[dict[str, Any]] | None = None
    service_name: str | None = None
    pod_management_policy: str | None = None
    update_strategy: StatefulSetUpdateStrategy = Field(default_factory=StatefulSetUpdateStrategy)
    revision_history_limit: int | None = None
    min_ready_seconds: int | None = None
    persistent_volume_claim_retention_policy: StatefulSetPersistentVolumeClaimRetentionPolicy | None = None
    ordinals: StatefulSetOrdinals | None = None


class StatefulSetCondition(K8sModel):
    type: str
    status: ConditionStatus
    last_transition_time: Time | None = None
    reason: str | None = None
    message: str | None = None


class StatefulSetStatus(K8sModel):
    observed_generation: int | None = None
    # Go's Replicas and AvailableReplicas have no omitempty: 0 is written out.
    replicas: int = 0
    ready_replicas: int | None = None
    current_replicas: int | None = None
    updated_replicas: int | None = None
    current_revision: str | None = None
    update_revision: str | None = None
    collision_count: int | None = None
    conditions: list[StatefulSetCondition] | None = None
    available_replicas: int = 0


class StatefulSet(K8sObject):
    api_version: str = "apps/v1"
    kind: str = "StatefulSet"
    spec: StatefulSetSpec
    status: StatefulSetStatus = Field(default_factory=StatefulSetStatus)
