from __future__ import annotations

from tests.check.helpers import check_yaml, good, of


def test_prestop_at_the_grace_period_leaves_two_seconds() -> None:
    report = check_yaml(good(pod_extra="terminationGracePeriodSeconds: 3"))
    (f,) = of(report, "prestop-exceeds-grace")
    assert f.numbers == {"prestop_s": 3.0, "grace_period_s": 3, "signal_at_s": 3.0, "sigkill_at_s": 5.0}


def test_an_exec_sleep_beyond_the_grace_period_is_counted() -> None:
    lifecycle = 'lifecycle: {preStop: {exec: {command: [sh, -c, "sleep 40"]}}}'
    (f,) = of(check_yaml(good(lifecycle=lifecycle)), "prestop-exceeds-grace")
    assert (f.numbers["prestop_s"], f.numbers["sigkill_at_s"]) == (40.0, 32.0)


def test_grace_shorter_than_prestop_plus_the_apps_drain() -> None:
    args = "[demo-app, --port=8080, --shutdown-delay=2, --latency=1:6]"
    (f,) = of(
        check_yaml(good(args=args, pod_extra="terminationGracePeriodSeconds: 10")), "grace-shorter-than-drain"
    )
    assert f.numbers == {
        "prestop_s": 3.0,
        "drain_s": 8.0,
        "needed_s": 11.0,
        "grace_period_s": 10,
        "sigkill_at_s": 10.0,
    }
    assert not of(
        check_yaml(good(args=args, pod_extra="terminationGracePeriodSeconds: 12")), "grace-shorter-than-drain"
    )


def test_an_app_that_ignores_sigterm_waits_for_sigkill() -> None:
    (f,) = of(check_yaml(good(args="[demo-app, --on-sigterm=ignore]")), "grace-shorter-than-drain")
    assert (f.severity.value, f.numbers["sigkill_at_s"]) == ("warning", 30.0)
