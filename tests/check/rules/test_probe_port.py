from __future__ import annotations

from tests.check.helpers import check_yaml, good, of


def test_a_missing_port_name_is_an_error() -> None:
    probes = "readinessProbe: {httpGet: {path: /readyz, port: web}}"
    (f,) = of(check_yaml(good(probes=probes)), "probe-port")
    assert f.severity.value == "error"
    assert f.field == "spec.template.spec.containers[0].readinessProbe.httpGet.port"
    assert "'web'" in f.message


def test_an_undeclared_number_is_a_warning() -> None:
    probes = (
        "livenessProbe: {tcpSocket: {port: 9999}}\nreadinessProbe: {httpGet: {path: /readyz, port: http}}"
    )
    (f,) = of(check_yaml(good(probes=probes)), "probe-port")
    assert (f.severity.value, f.numbers) == ("warning", {"probe_port": 9999})


def test_readiness_on_another_port_than_the_service_sends_to() -> None:
    probes = "readinessProbe: {tcpSocket: {port: 5084}}"
    report = check_yaml(good(probes=probes, ports="[]").replace("targetPort: http", "targetPort: 80"))
    (f,) = of(report, "probe-port")
    assert f.numbers == {"probe_port": 5084, "service_target_port": 80}


def test_declared_ports_pass() -> None:
    assert not of(check_yaml(good()), "probe-port")
