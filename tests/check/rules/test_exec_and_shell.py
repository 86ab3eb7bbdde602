from __future__ import annotations

from tests.check.helpers import check_yaml, good, of


def test_exec_sleep_in_a_distroless_image_is_an_error_and_points_to_the_sleep_action() -> None:
    yaml = good(lifecycle="lifecycle: {preStop: {exec: {command: [sleep, '5']}}}").replace(
        "image: hitless:0.1.0", "image: gcr.io/distroless/python3"
    )
    (f,) = of(check_yaml(yaml), "exec-needs-binary")
    assert f.severity.value == "error"
    assert "sleep.seconds: 5" in f.fix


def test_exec_probe_needing_a_shell_is_info_in_an_ordinary_image() -> None:
    probes = "readinessProbe: {exec: {command: [sh, -c, 'curl -f localhost:8080/readyz']}}"
    (f,) = of(check_yaml(good(probes=probes)), "exec-needs-binary")
    assert (f.severity.value, f.field) == (
        "info",
        "spec.template.spec.containers[0].readinessProbe.exec.command",
    )


def test_a_shell_script_as_pid1_is_reported_unless_it_execs() -> None:
    cmd = """command: [sh, -c, "echo starting; hitless demo-app --port=8080"]"""
    yaml = good().replace("args: [demo-app, --port=8080]", cmd)
    (f,) = of(check_yaml(yaml), "shell-pid1")
    assert (f.field, f.numbers) == ("spec.template.spec.containers[0].command", {"grace_period_s": 30})
    assert not of(check_yaml(yaml.replace("echo starting; hitless", "exec hitless")), "shell-pid1")
    assert not of(check_yaml(yaml.replace("command: [sh, -c,", "command: [tini, --, sh, -c,")), "shell-pid1")
