from __future__ import annotations

from tests.check.helpers import check_yaml, of

from .workload_yaml import daemonset, service

LB_LOCAL = "type: LoadBalancer\n  externalTrafficPolicy: Local"


def test_default_strategy_behind_a_local_load_balancer_is_an_error() -> None:
    report = check_yaml(daemonset() + "---\n" + service("edge", LB_LOCAL))
    [finding] = of(report, "daemonset-local-no-surge")
    assert finding.severity.value == "error"
    assert (finding.kind, finding.field) == ("DaemonSet", "spec.updateStrategy.rollingUpdate.maxSurge")
    assert finding.numbers["lb_detection_s"] == 24
    # The generic Local rule leaves DaemonSets to this one: one error, no spreading warning.
    assert [f.severity.value for f in of(report, "external-traffic-local")] == []


def test_surge_or_cluster_policy_or_ondelete_is_fine() -> None:
    surge = "{type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}"
    assert not of(
        check_yaml(daemonset(surge) + "---\n" + service("edge", LB_LOCAL)), "daemonset-local-no-surge"
    )
    cluster = "type: LoadBalancer"
    assert not of(check_yaml(daemonset() + "---\n" + service("edge", cluster)), "daemonset-local-no-surge")
    on_delete = "{type: OnDelete}"
    assert not of(
        check_yaml(daemonset(on_delete) + "---\n" + service("edge", LB_LOCAL)), "daemonset-local-no-surge"
    )


def test_a_node_port_service_is_a_warning() -> None:
    report = check_yaml(
        daemonset() + "---\n" + service("edge", "type: NodePort\n  externalTrafficPolicy: Local")
    )
    [finding] = of(report, "daemonset-local-no-surge")
    assert finding.severity.value == "warning"
