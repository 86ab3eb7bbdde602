"""``hitless check`` and ``hitless verify`` agree on the examples.

Each error-level finding of ``hitless check`` on ``examples/broken/*.yaml`` is a prediction: this
configuration drops requests in a rollout, by this mechanism. Running the example under ``hitless
verify`` with the parameters check assumes (2 nodes, a propagation delay of 1.5 s, the gce load
balancer preset) confirms it: the rollout fails, every dropped request is attributed to the
mechanism of that finding (tests/check/test_examples.py lists them), and verify's finding names
the same object and field. ``examples/zero-downtime.yaml``, on which check finds no error,
passes verify with no drop.

One round at 100 requests/s on fresh connections (``--connections close``) keeps each run short
and keeps the keep-alive race, a separate matter (``keepalive-reset``), out of the verdict.
"""

from __future__ import annotations

from typing import Any

import pytest

from hitless.check.model import Params
from hitless.check.runner import run_check
from hitless.check.traffic import LB_PRESETS

from .verify_runs import EXAMPLES, run_verify, zero_downtime_run

AS_CHECK_ASSUMES = ("--nodes", "2", "--propagation-delay", "1.5", "--lb-preset", "gce")
SHORT = ("--repeat", "1", "--rps", "100", "--connections", "close")

# example: (check's error rules, the cause verify must attribute every drop to, extra verify flags)
BROKEN: dict[str, tuple[set[str], str, tuple[str, ...]]] = {
    # New pods are Ready (no probe) and become endpoints 5 s before they listen: refused.
    "no-readiness-probe.yaml": ({"no-readiness-probe"}, "not-listening", ()),
    # Old pods stop listening at deletion while proxies route to them for 1.5 s more: refused.
    "no-prestop.yaml": ({"prestop-propagation"}, "terminating-still-routed", ()),
    # SIGKILL 2 s after the preStop has used the whole grace period, with 3-5 s requests in flight
    # (so the client must wait longer than they take: --timeout 10).
    "prestop-exceeds-grace.yaml": (
        {"prestop-exceeds-grace", "grace-shorter-than-drain"},
        "killed-in-flight",
        ("--timeout", "10"),
    ),
    # The old pod's node keeps the load balancer's traffic with no local endpoint left.
    "external-traffic-local.yaml": ({"external-traffic-local"}, "local-no-endpoint", ()),
    # No endpoint at all between the old pods' end and the new pods' readiness.
    "recreate.yaml": ({"rollout-strategy"}, "capacity", ()),
    # A DaemonSet without surge: each node's only pod goes first; the LB keeps sending to the node.
    "daemonset-local-no-surge.yaml": ({"daemonset-local-no-surge"}, "local-no-endpoint", ()),
}


def _object(finding: dict[str, Any]) -> str:
    return f"{finding['object']['kind']}/{finding['object']['name']}"


def test_zero_downtime_has_no_check_error_and_passes_verify() -> None:
    assert run_check([str(EXAMPLES / "zero-downtime.yaml")]).exit_code == 0
    run = zero_downtime_run()
    assert run.code == 0, run.describe()
    assert run.report["requests"]["failed"] == 0 and run.report["requests"]["total"] >= 3000


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_verify_confirms_each_check_error(name: str) -> None:
    rules, cause, extra = BROKEN[name]
    path = EXAMPLES / "broken" / name
    check = run_check([str(path)], Params(propagation_s=1.5, lb=LB_PRESETS["gce"], nodes=2))
    errors = [f.to_json() for f in check.findings if f.severity.value == "error"]
    assert {f["rule"] for f in errors} == rules

    run = run_verify(str(path), *AS_CHECK_ASSUMES, *SHORT, *extra)
    assert run.code == 1, run.describe()
    report = run.report
    assert report["run"]["completed"], run.describe()
    assert report["requests"]["failed"] > 0
    # Exactly the one mechanism check predicted, for every dropped request.
    assert report["causes"] == {cause: report["requests"]["failed"]}, run.describe()
    # And the fix points at what check pointed at: the same object, the same field (or within it).
    [finding] = report["findings"]
    assert finding["cause"] == cause and finding["failures"] == report["requests"]["failed"]
    assert any(
        finding["object"] == _object(error) and finding["field"].startswith(error["field"])
        for error in errors
    ), (finding, errors)
    if name == "daemonset-local-no-surge.yaml":
        # Blamed on the node being updated: its old pod deleted, its new one not yet Ready.
        pods = report["pods"]
        for f in report["failures"]:
            on_node = [p for p in pods if p["node"] == f["node"]]
            # `time` is the intended send time; a loaded machine sends later. The connection was
            # refused between then and when the failure came back (time + latency).
            ended = f["time"] + f["latencyMs"] / 1000
            assert any(p.get("deleted") is not None and p["deleted"] <= ended for p in on_node), f
            ready = [p["ready"][0][0] for p in on_node if p.get("deleted") is None and p["ready"]]
            assert not ready or f["time"] <= min(ready) + 2.0, (f, on_node)
    # report.json (and report.html) show the manifest line of that field.
    assert finding["source"]["file"] == str(path) and finding["source"]["excerpt"]["lines"]
    assert (run.report_dir / "report.html").is_file()
    if name == "no-prestop.yaml":
        # The numbers agree too: check's uncovered propagation is what verify measured.
        [error] = errors
        measured = finding["measured"]["needed_seconds"]
        assert measured == pytest.approx(error["numbers"]["uncovered_s"], abs=0.5), finding
