from __future__ import annotations

from tests.check.helpers import check_yaml, deployment, of, service


def test_a_target_port_name_no_container_declares_is_an_error() -> None:
    report = check_yaml(deployment() + "---\n" + service(target="web"))
    (f,) = of(report, "service-target-port")
    assert (f.severity.value, f.kind, f.field, f.line) == ("error", "Service", "spec.ports[0].targetPort", 23)


def test_an_undeclared_number_is_a_warning_and_a_declared_one_passes() -> None:
    (f,) = of(check_yaml(deployment() + "---\n" + service(target="9090")), "service-target-port")
    assert (f.severity.value, f.numbers) == ("warning", {"target_port": 9090})
    assert not of(check_yaml(deployment() + "---\n" + service(target="8080")), "service-target-port")
