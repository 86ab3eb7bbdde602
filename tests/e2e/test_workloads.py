"""StatefulSets and DaemonSets rolled under ``hitless verify`` with real pods: the article's recipe
passes on a StatefulSet, which rolls web-2, web-1, web-0 each after the one before is Ready; a
DaemonSet with maxSurge 1 on 3 nodes rolls node by node with a ready pod on every node throughout.
(The broken DaemonSet, without surge, is in test_agreement.py.)"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from .verify_runs import EXAMPLES, run_verify

SHORT = ("--repeat", "1", "--rps", "100")


def _old_and_new(report: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The pods from before the rollout and those it made (verify deletes all of them at the end)."""
    rollout = report["marks"][0]["time"]
    pods = [p for p in report["pods"] if p.get("created") is not None]
    return [p for p in pods if p["created"] < rollout], [p for p in pods if p["created"] >= rollout]


@pytest.mark.slow
def test_statefulset_rollout_passes_and_goes_from_the_highest_ordinal() -> None:
    run = run_verify(str(EXAMPLES / "statefulset.yaml"), "--service", "web", *SHORT)
    assert run.code == 0, run.describe()
    report = run.report
    assert report["requests"]["failed"] == 0 and report["requests"]["total"] > 500
    before, after = _old_and_new(report)
    old = sorted(before, key=lambda p: p["deleted"])
    assert [p["pod"] for p in old] == ["default/web-2", "default/web-1", "default/web-0"], run.describe()
    # Each ordinal is replaced only once the ordinal above it is Ready again (OrderedReady).
    new = {p["pod"]: p for p in after}
    assert sorted(new) == ["default/web-0", "default/web-1", "default/web-2"], report["pods"]
    for above, below in (("default/web-2", "default/web-1"), ("default/web-1", "default/web-0")):
        ready_again = new[above]["ready"][0][0]
        deleted = next(p["deleted"] for p in old if p["pod"] == below)
        assert deleted >= ready_again, (above, below, report["pods"])


@pytest.mark.slow
def test_daemonset_with_surge_on_three_nodes_rolls_node_by_node_and_passes() -> None:
    run = run_verify(
        str(EXAMPLES / "daemonset.yaml"),
        *("--nodes", "3", "--propagation-delay", "1.5", "--lb-preset", "gce", "--connections", "close"),
        *SHORT,
    )
    assert run.code == 0, run.describe()
    report = run.report
    assert report["requests"]["failed"] == 0 and report["requests"]["total"] > 500
    before, after = _old_and_new(report)
    assert (
        sorted(p["node"] for p in before)
        == sorted(p["node"] for p in after)
        == ["node-1", "node-2", "node-3"]
    )
    spans = []
    for node in ("node-1", "node-2", "node-3"):
        [old] = [p for p in before if p["node"] == node]
        [new] = [p for p in after if p["node"] == node]
        # Surge: the new pod was created beside the old one and Ready before the old one went.
        assert new["created"] < old["deleted"] and new["ready"][0][0] <= old["deleted"], (old, new)
        spans.append((new["created"], old["deleted"]))
    # Node by node: never two nodes with two pods at once (maxSurge 1).
    spans.sort()
    assert all(a[1] <= b[0] + 0.5 for a, b in itertools.pairwise(spans)), spans
