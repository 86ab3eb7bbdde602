"""policy/v1 PodDisruptionBudget, fields in the order of ``k8s.io/api/policy/v1/types.go``."""

from __future__ import annotations

from pydantic import Field

from hitless.api.types.base import IntOrString, K8sModel, Time
from hitless.api.types.meta import K8sObject, LabelSelector
from hitless.api.types.pod import ConditionStatus


class PodDisruptionBudgetSpec(K8sModel):
    min_available: IntOrString | None = None
    selector: LabelSelector | None = None
    max_unavailable: IntOrString | None = None
    unhealthy_pod_eviction_policy: str | None = None


class PDBCondition(K8sModel):
    type: str
    status: ConditionStatus
    observed_generation: int | None = None
    last_transition_time: Time | None = None
    reason: str = ""
    message: str = ""  # metav1.Condition: always written, even empty


class PodDisruptionBudgetStatus(K8sModel):
    observed_generation: int | None = None
    disrupted_pods: dict[str, Time] | None = None
    disruptions_allowed: int = 0
    current_healthy: int = 0
    desired_healthy: int = 0
    expected_pods: int = 0
    conditions: list[PDBCondition] | None = None


class PodDisruptionBudget(K8sObject):
    api_version: str = "policy/v1"
    kind: str = "PodDisruptionBudget"
    spec: PodDisruptionBudgetSpec = Field(default_factory=PodDisruptionBudgetSpec)
    status: PodDisruptionBudgetStatus | None = None
