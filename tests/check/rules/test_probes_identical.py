from __future__ import annotations

from tests.check.helpers import check_yaml, good, of

SAME_PORT_BY_NAME_AND_NUMBER = """
readinessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 10, failureThreshold: 3}
livenessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 10, failureThreshold: 3}
"""


def test_identical_after_resolving_named_ports_and_giving_up_no_later() -> None:
    (f,) = of(check_yaml(good(probes=SAME_PORT_BY_NAME_AND_NUMBER)), "probes-identical")
    assert f.numbers == {"liveness_gives_up_s": 30, "readiness_gives_up_s": 30}
    assert f.field == "spec.template.spec.containers[0].livenessProbe"


def test_same_endpoint_is_fine_when_liveness_gives_up_later() -> None:
    later = SAME_PORT_BY_NAME_AND_NUMBER.replace(
        "8080}, periodSeconds: 10, failureThreshold: 3", "8080}, failureThreshold: 6"
    )
    assert not of(check_yaml(good(probes=later)), "probes-identical")


def test_different_named_ports_are_not_identical() -> None:
    # kube-score reads every named port as 0 and would call these identical.
    probes = """
    readinessProbe: {httpGet: {path: /healthz, port: http}}
    livenessProbe: {httpGet: {path: /healthz, port: admin}}
    """
    report = check_yaml(
        good(probes=probes, ports="[{name: http, containerPort: 8080}, {name: admin, containerPort: 9090}]")
    )
    assert not of(report, "probes-identical")
