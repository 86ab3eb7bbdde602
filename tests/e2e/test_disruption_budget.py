"""A PodDisruptionBudget holds a real drain: ``hitless verify --scenario node-drain`` evicts through
the Eviction API, is refused while the budget allows no disruption, and retries every 5 s."""

from __future__ import annotations

from pathlib import Path

import pytest

from .test_verify import SHORT
from .verify_runs import EXAMPLES, run_verify

BUDGET = """\
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web}
spec:
  maxUnavailable: 1
  selector: {matchLabels: {app: web}}
"""


@pytest.mark.slow
def test_a_budget_holds_the_drain_until_a_replacement_is_ready(tmp_path: Path) -> None:
    budget = tmp_path / "pdb.yaml"
    budget.write_text(BUDGET)
    run = run_verify(str(EXAMPLES / "zero-downtime.yaml"), str(budget), *SHORT, "--scenario", "node-drain")

    assert run.code == 0, run.describe()
    assert run.report["requests"]["failed"] == 0
    # node-1 runs 2 of the 3 pods; the budget lets one go, refuses the other until its
    # replacement is Ready on node-2, and kubectl's 5 s retry then evicts it.
    assert (
        "(will retry after 5s): Cannot evict pod as it would violate the pod's disruption budget."
        in run.stderr
    )
    assert (
        "drain node/node-1 (2 pods evicted; 1 eviction(s) refused by a PodDisruptionBudget and retried)"
        in (run.stderr)
    )
    evictions = sorted(p["deleted"] for p in run.report["pods"] if p["node"] == "node-1" and p["deleted"])
    assert len(evictions) == 2 and evictions[1] - evictions[0] >= 5.0
