from __future__ import annotations

from tests.check.helpers import check_yaml, good, of, params


def test_the_timeline_of_the_default_like_probes() -> None:
    (f,) = of(check_yaml(good(), params(propagation=2)), "probe-timeline")
    # readiness 1 s x 2 (+1 s timeout) = 3 s, + 2 s propagation; liveness 5 s x 3 + 1 = 16 s,
    # then preStop 3 s and the rest of the 30 s grace period.
    assert f.severity.value == "info"
    assert f.numbers["out_of_rotation_s"] == 5
    assert f.numbers["liveness_detection_s"] == 16
    assert f.numbers["restart_after_hang_s"] == 46


def test_a_failing_pod_keeping_traffic_over_a_minute_is_a_warning() -> None:
    probes = "readinessProbe: {tcpSocket: {port: http}, periodSeconds: 30, failureThreshold: 3}"
    (f,) = of(check_yaml(good(probes=probes)), "probe-timeline")
    assert f.severity.value == "warning"
    assert f.numbers["out_of_rotation_s"] == 92.5
