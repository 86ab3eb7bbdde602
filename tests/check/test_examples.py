"""Every example is checked: the passing one has no error, each broken one gets its own finding.

Agreement with `hitless verify` (to add once verify exists): for each file under examples/broken/,
run the rollout under load with the same parameters (--nodes 2, propagation 1.5 s, the gce load
balancer preset) and assert that verify fails, attributing the dropped requests to the mechanism
of the error-level finding listed below (no-readiness-probe: refused by new pods before they
listen; prestop-propagation: refused by old pods right after deletion; prestop-exceeds-grace /
grace-shorter-than-drain: in-flight requests reset at SIGKILL; external-traffic-local: drops on
the old pod's node until the load balancer's health check fails; rollout-strategy: refused while
no endpoint exists); and that examples/zero-downtime.yaml passes verify with zero drops.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hitless.api import load
from hitless.check.runner import run_check

from .helpers import ROOT

EXAMPLES = ROOT / "examples"
BROKEN = {
    "no-readiness-probe.yaml": {"no-readiness-probe"},
    "no-prestop.yaml": {"prestop-propagation"},
    "prestop-exceeds-grace.yaml": {"prestop-exceeds-grace", "grace-shorter-than-drain"},
    "external-traffic-local.yaml": {"external-traffic-local"},
    "recreate.yaml": {"rollout-strategy"},
    "daemonset-local-no-surge.yaml": {"daemonset-local-no-surge"},
}


def _all_examples() -> list[Path]:
    return sorted(p for p in EXAMPLES.rglob("*.yaml"))


@pytest.mark.parametrize("path", _all_examples(), ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_every_example_loads_cleanly(path: Path) -> None:
    result = load([str(path)])
    assert result.ok, result.errors
    assert not result.warnings


def test_the_zero_downtime_example_has_no_error_or_warning() -> None:
    report = run_check([str(EXAMPLES / "zero-downtime.yaml")])
    assert report.exit_code == 0
    assert {f.severity.value for f in report.findings} <= {"info"}


def test_every_broken_example_is_listed() -> None:
    assert {p.name for p in (EXAMPLES / "broken").glob("*.yaml")} == set(BROKEN)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_each_broken_example_fails_for_its_one_reason(name: str) -> None:
    report = run_check([str(EXAMPLES / "broken" / name)])
    errors = {f.rule for f in report.findings if f.severity.value == "error"}
    assert errors == BROKEN[name]
    assert report.exit_code == 1


@pytest.mark.parametrize(
    "path", [*sorted((EXAMPLES / "init").glob("*.yaml")), EXAMPLES / "web.yaml"], ids=lambda p: p.name
)
def test_the_other_examples_have_no_error(path: Path) -> None:
    assert run_check([str(path)]).exit_code == 0
