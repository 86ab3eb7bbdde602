from __future__ import annotations

from tests.check.helpers import READY, check_yaml, good, of


def test_a_long_initial_delay_without_startup_probe_reports_the_budget() -> None:
    probes = (
        READY
        + "\nlivenessProbe: {httpGet: {path: /healthz, port: http},"
        + " initialDelaySeconds: 30, periodSeconds: 30}"
    )
    (f,) = of(check_yaml(good(probes=probes)), "liveness-without-startup-probe")
    assert f.numbers == {"liveness_initial_delay_s": 30, "startup_budget_s": 120, "liveness_detection_s": 91}
    assert "failureThreshold 24" in f.fix


def test_a_startup_probe_or_a_short_delay_passes() -> None:
    live = "livenessProbe: {httpGet: {path: /healthz, port: http}, initialDelaySeconds: 30}"
    startup = "startupProbe: {httpGet: {path: /healthz, port: http}, failureThreshold: 30}"
    assert not of(
        check_yaml(good(probes=READY + "\n" + live + "\n" + startup)), "liveness-without-startup-probe"
    )
    short = "livenessProbe: {httpGet: {path: /healthz, port: http}, initialDelaySeconds: 5}"
    assert not of(check_yaml(good(probes=READY + "\n" + short)), "liveness-without-startup-probe")
