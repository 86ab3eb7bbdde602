"""Real charts' rendered output (tests/fixtures/charts/README.md) loads and checks cleanly, and every
object is either acted on or reported as stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from hitless.api import load, load_text
from hitless.api.summary import stored_lines
from hitless.check.runner import run_check

CHARTS = Path(__file__).resolve().parent.parent / "fixtures" / "charts"
EXPECTED = {
    "ingress-nginx.yaml": 19,
    "kube-prometheus.yaml": 35,
    "metrics-server.yaml": 10,
    "podinfo.yaml": 3,
}


def test_every_chart_of_the_readme_is_tested() -> None:
    assert sorted(p.name for p in CHARTS.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_chart_loads_and_checks_with_no_error_and_every_object_is_accounted_for(name: str) -> None:
    path = str(CHARTS / name)
    result = load([path])

    assert [e.format() for e in result.errors] == []
    assert result.warnings == []
    assert len(result.objects) == EXPECTED[name]
    handling = [result.handling(o.obj) for o in result.objects]
    assert set(handling) <= {"emulated", "stored"}
    lines = stored_lines(result)
    assert sum(int(line.split(": ")[1].split(" ")[0]) for line in lines) == handling.count("stored")

    report = run_check([path])
    assert not [f for f in report.findings if f.rule == "invalid-object"]
    assert report.unreadable == []


def test_custom_resources_of_a_chart_are_held_to_their_crd() -> None:
    text = (CHARTS / "kube-prometheus.yaml").read_text()
    token = "  - bearerTokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token\n"
    broken = text.replace(token + "    interval: 30s", token + "    interval: 30", 1)
    assert broken != text
    result = load_text(broken, "kube-prometheus.yaml")

    (error,) = result.errors
    assert error.message == (
        'ServiceMonitor.monitoring.coreos.com "blackbox-exporter" is invalid: spec.endpoints[0].interval: '
        'Invalid value: 30: spec.endpoints[0].interval in body must be of type string: "integer"'
    )
