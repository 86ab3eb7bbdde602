from __future__ import annotations

from tests.check.helpers import check_yaml, deployment, of
from tests.check.rules.test_pdb_blocks_eviction import pdb


def hpa(min_replicas: int | None) -> str:
    minimum = f"  minReplicas: {min_replicas}\n" if min_replicas is not None else ""
    return (
        "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: web}\nspec:\n"
        "  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n"
        f"{minimum}  maxReplicas: 10\n"
    )


def test_min_replicas_below_min_available_is_reported_on_the_autoscaler() -> None:
    text = deployment(replicas=3) + "---\n" + pdb("minAvailable: 2") + "---\n" + hpa(None)
    (f,) = of(check_yaml(text), "hpa-below-pdb")
    assert (f.severity.value, f.kind, f.field) == ("warning", "HorizontalPodAutoscaler", "spec.minReplicas")
    assert f.message.startswith('minReplicas 1 is below minAvailable 2 of PodDisruptionBudget "web"')


def test_enough_replicas_or_a_relative_budget_is_fine() -> None:
    for budget, minimum in (("minAvailable: 2", 3), ("minAvailable: 2", 2), ("maxUnavailable: 1", 1)):
        text = deployment(replicas=3) + "---\n" + pdb(budget) + "---\n" + hpa(minimum)
        assert not of(check_yaml(text), "hpa-below-pdb"), (budget, minimum)
