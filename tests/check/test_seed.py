"""The seed case: a widely read article's manifests. Every real problem in them, pinned."""

from __future__ import annotations

from hitless.check.runner import run_check

from .helpers import SEED


def test_the_seed_reports_every_real_problem_with_lines_and_numbers() -> None:
    report = run_check([str(SEED)])

    got = [(f.line, f.severity.value, f.rule, f.kind) for f in report.findings]
    assert got == [
        # Pod nginx: no labels, so neither Service selects it; it is their presumed target.
        (7, "warning", "single-replica", "Pod"),
        # `image: nginx`: no tag, so imagePullPolicy Always and whatever latest is at each start.
        (12, "warning", "image-latest-tag", "Pod"),
        (14, "warning", "probes-identical", "Pod"),
        (16, "warning", "liveness-without-startup-probe", "Pod"),
        (23, "warning", "probe-timeline", "Pod"),
        (29, "warning", "probe-port", "Pod"),
        (35, "info", "exec-needs-binary", "Pod"),
        # `command: [sleep, 30]`: the API server refuses the whole Pod.
        (37, "error", "invalid-object", "Pod"),
        (51, "error", "service-selects-nothing", "Service"),
        (59, "warning", "duplicate-object", "Service"),
        (62, "warning", "external-traffic-local", "Service"),
        (67, "error", "service-selects-nothing", "Service"),
    ]
    assert report.exit_code == 1
    by_rule = {f.rule: f for f in report.findings}
    assert by_rule["probes-identical"].numbers == {"liveness_gives_up_s": 90, "readiness_gives_up_s": 90}
    assert by_rule["liveness-without-startup-probe"].numbers["startup_budget_s"] == 120
    timeline = by_rule["probe-timeline"].numbers
    # Readiness every 30 s x 3 (+1 s timeout) + 1.5 s propagation; liveness kill: preStop 30 s of 60.
    assert (timeline["out_of_rotation_s"], timeline["restart_after_hang_s"]) == (92.5, 151)
    assert by_rule["probe-port"].numbers == {"probe_port": 5084, "service_target_port": 80}
    assert by_rule["external-traffic-local"].numbers == {
        "replicas": 1,
        "nodes": 2,
        "nodes_without_endpoint": 1,
    }
    assert "sleep.seconds: 30" in by_rule["exec-needs-binary"].fix
    assert "cannot unmarshal number" in by_rule["invalid-object"].message
    assert 'Pod "nginx"' in by_rule["service-selects-nothing"].message


def test_the_preStop_sleep_covers_propagation_and_gce_detection_for_the_local_service() -> None:
    # 30 s >= 1.5 s + 24 s: no timing finding; a 40 s propagation delay would uncover it.
    report = run_check([str(SEED)])
    assert not [f for f in report.findings if f.rule in ("prestop-propagation", "prestop-exceeds-grace")]
    assert [
        f for f in report.findings if f.rule == "external-traffic-local" and f.severity.value == "error"
    ] == []
