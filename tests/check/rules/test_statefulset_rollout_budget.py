from __future__ import annotations

from tests.check.helpers import check_yaml, of

from .workload_yaml import statefulset


def test_ordered_ready_with_long_termination_and_slow_readiness() -> None:
    # Per pod: SIGKILL at 120 s at worst, first Ready after 30 s: 150 s x 5 pods = 750 s.
    report = check_yaml(statefulset(replicas=5, grace=120, period=30))
    [finding] = of(report, "statefulset-rollout-budget")
    assert finding.field == "spec.podManagementPolicy"
    assert finding.numbers == {"per_pod_s": 150, "total_s": 750, "replicas": 5}


def test_fast_pods_parallel_or_few_replicas_are_silent() -> None:
    assert not of(check_yaml(statefulset(replicas=3)), "statefulset-rollout-budget")
    parallel = "podManagementPolicy: Parallel"
    assert not of(
        check_yaml(statefulset(replicas=5, grace=120, period=30, extra=parallel)),
        "statefulset-rollout-budget",
    )
    assert not of(check_yaml(statefulset(replicas=1, grace=900)), "statefulset-rollout-budget")
