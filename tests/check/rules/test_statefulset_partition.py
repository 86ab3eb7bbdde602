from __future__ import annotations

from tests.check.helpers import check_yaml, of

from .workload_yaml import statefulset


def test_a_partition_above_zero_is_reported_with_what_it_holds() -> None:
    report = check_yaml(
        statefulset(extra="updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 2}}")
    )
    [finding] = of(report, "statefulset-partition")
    assert finding.field == "spec.updateStrategy.rollingUpdate.partition"
    assert finding.numbers == {"partition": 2, "replicas": 3, "held_back": 2}


def test_no_partition_or_zero_is_silent() -> None:
    assert not of(check_yaml(statefulset()), "statefulset-partition")
    zero = "updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 0}}"
    assert not of(check_yaml(statefulset(extra=zero)), "statefulset-partition")
