"""k8s.io/component-helpers/apps/poddisruptionbudget: the ``DisruptionAllowed`` condition, which
both the disruption controller and the Eviction API write."""

from __future__ import annotations

from datetime import datetime

from hitless.api.types.policy import PDBCondition, PodDisruptionBudgetStatus

DISRUPTION_ALLOWED = "DisruptionAllowed"
SUFFICIENT_PODS = "SufficientPods"
INSUFFICIENT_PODS = "InsufficientPods"


def set_condition(status: PodDisruptionBudgetStatus, condition: PDBCondition, now: datetime) -> None:
    """meta.SetStatusCondition: the transition time moves only when the status changes."""
    conditions = status.conditions = list(status.conditions or [])
    for i, existing in enumerate(conditions):
        if existing.type == condition.type:
            condition.last_transition_time = (
                existing.last_transition_time if existing.status == condition.status else now
            )
            conditions[i] = condition
            return
    condition.last_transition_time = now
    conditions.append(condition)


def update_disruption_allowed_condition(status: PodDisruptionBudgetStatus, now: datetime) -> None:
    allowed = status.disruptions_allowed > 0
    set_condition(
        status,
        PDBCondition(
            type=DISRUPTION_ALLOWED,
            status="True" if allowed else "False",
            reason=SUFFICIENT_PODS if allowed else INSUFFICIENT_PODS,
            observed_generation=status.observed_generation,
        ),
        now,
    )
