from __future__ import annotations

from tests.check.helpers import LIVE, READY, check_yaml, deployment, good, of, params

PROBES = READY + "\n" + LIVE


def test_no_prestop_and_an_app_that_stops_at_sigterm_is_an_error() -> None:
    (f,) = of(check_yaml(good(lifecycle="")), "prestop-propagation")
    assert f.severity.value == "error"
    assert f.numbers == {
        "propagation_delay_s": 1.5,
        "prestop_s": 0.0,
        "serving_after_deletion_s": 0.0,
        "uncovered_s": 1.5,
    }


def test_the_apps_own_shutdown_delay_covers_it() -> None:
    args = "[demo-app, --port=8080, --shutdown-delay=2]"
    assert not of(check_yaml(good(lifecycle="", args=args)), "prestop-propagation")


def test_a_longer_propagation_delay_uncovers_a_short_sleep() -> None:
    assert not of(check_yaml(good()), "prestop-propagation")
    (f,) = of(check_yaml(good(), params(propagation=5)), "prestop-propagation")
    assert f.numbers["uncovered_s"] == 2


def test_an_unknown_app_is_a_warning_and_an_unserved_workload_is_not_checked() -> None:
    other = (
        good(lifecycle="")
        .replace("image: hitless:0.1.0", "image: example/api:1")
        .replace("args: [demo-app, --port=8080]", "args: [serve]")
    )
    (f,) = of(check_yaml(other), "prestop-propagation")
    assert f.severity.value == "warning"
    assert not of(check_yaml(deployment(probes=PROBES)), "prestop-propagation")
