from __future__ import annotations

from tests.check.helpers import LIVE, PRESTOP, READY, check_yaml, deployment, good, of, service


def test_a_selected_workload_without_readiness_is_an_error_with_the_apps_start_delay() -> None:
    report = check_yaml(good(probes=LIVE, args="[demo-app, --port=8080, --startup-delay=5]"))
    (f,) = of(report, "no-readiness-probe")
    assert f.severity.value == "error"
    assert f.numbers == {"ready_after_start_s": 0, "listens_after_start_s": 5.0}
    assert f.field == "spec.template.spec.containers[0]"


def test_no_finding_with_a_readiness_probe_or_without_a_service() -> None:
    assert not of(check_yaml(good()), "no-readiness-probe")
    assert not of(check_yaml(deployment(probes=LIVE, lifecycle=PRESTOP)), "no-readiness-probe")
    assert READY  # the good() default carries it
    assert not of(
        check_yaml(deployment(lifecycle=PRESTOP) + "---\n" + service(name="other", selector="{app: other}")),
        "no-readiness-probe",
    )
