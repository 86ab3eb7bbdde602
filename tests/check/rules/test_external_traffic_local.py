from __future__ import annotations

from tests.check.helpers import LIVE, PRESTOP, READY, check_yaml, deployment, of, params, service

LOCAL = "type: LoadBalancer\nexternalTrafficPolicy: Local"


def _yaml(replicas: int, lifecycle: str = PRESTOP, pod_extra: str = "", extra: str = LOCAL) -> str:
    return (
        deployment(replicas=replicas, probes=READY + "\n" + LIVE, lifecycle=lifecycle, pod_extra=pod_extra)
        + "---\n"
        + service(extra=extra)
    )


def test_fewer_pods_than_nodes_and_no_cover_for_lb_detection() -> None:
    report = check_yaml(_yaml(1))
    timing, count = sorted(of(report, "external-traffic-local"), key=lambda f: f.severity.rank)
    assert timing.severity.value == "error"
    assert timing.numbers["lb_detection_s"] == 24
    assert timing.numbers["uncovered_s"] == 22.5  # 1.5 + 24 - 3
    assert (count.severity.value, count.numbers["nodes_without_endpoint"]) == ("warning", 1)
    assert timing.field == "spec.externalTrafficPolicy"


def test_the_aws_nlb_preset_and_a_sleep_covering_detection() -> None:
    (timing, _) = sorted(
        of(check_yaml(_yaml(1), params(lb="aws-nlb")), "external-traffic-local"),
        key=lambda f: f.severity.rank,
    )
    assert timing.numbers["lb_detection_s"] == 20
    covered = "lifecycle: {preStop: {sleep: {seconds: 26}}}"
    findings = of(
        check_yaml(_yaml(1, lifecycle=covered).replace("replicas: 1", "replicas: 1")),
        "external-traffic-local",
    )
    assert [f.severity.value for f in findings] == ["warning"]  # only the pod count


def test_no_spreading_with_enough_replicas_and_cluster_policy() -> None:
    covered = "lifecycle: {preStop: {sleep: {seconds: 26}}}"
    (f,) = of(check_yaml(_yaml(4, lifecycle=covered)), "external-traffic-local")
    assert "topologySpreadConstraints" in f.message
    spread = (
        "topologySpreadConstraints: [{maxSkew: 1, topologyKey: kubernetes.io/hostname, "
        "whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: web}}}]"
    )
    assert not of(check_yaml(_yaml(4, lifecycle=covered, pod_extra=spread)), "external-traffic-local")
    assert not of(check_yaml(_yaml(1, extra="type: LoadBalancer")), "external-traffic-local")
