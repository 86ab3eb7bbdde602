from __future__ import annotations

from tests.check.helpers import check_yaml, deployment, of


def pdb(spec: str, selector: str = "{matchLabels: {app: web}}") -> str:
    return (
        "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: web}\n"
        f"spec: {{selector: {selector}, {spec}}}\n"
    )


def test_max_unavailable_zero_and_min_available_equal_to_replicas_block_every_eviction() -> None:
    (f,) = of(check_yaml(deployment(replicas=3) + "---\n" + pdb("maxUnavailable: 0")), "pdb-blocks-eviction")
    assert (f.severity.value, f.kind, f.field) == ("warning", "PodDisruptionBudget", "spec.maxUnavailable")
    assert f.message.startswith('maxUnavailable: 0 with 3 pod(s) (Deployment "web") allows no disruption')
    (g,) = of(check_yaml(deployment(replicas=3) + "---\n" + pdb("minAvailable: 3")), "pdb-blocks-eviction")
    assert g.field == "spec.minAvailable" and g.numbers == {"replicas": 3, "desiredHealthy": 3}
    assert of(
        check_yaml(deployment(replicas=3) + "---\n" + pdb('minAvailable: "100%"')), "pdb-blocks-eviction"
    )


def test_a_budget_that_allows_one_disruption_is_fine() -> None:
    for spec in ("maxUnavailable: 1", "minAvailable: 2", 'maxUnavailable: "10%"'):
        assert not of(check_yaml(deployment(replicas=3) + "---\n" + pdb(spec)), "pdb-blocks-eviction"), spec
