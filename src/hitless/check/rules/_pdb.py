"""What the PodDisruptionBudget rules share: the workloads a budget covers, and its arithmetic."""

from __future__ import annotations

from hitless.check.model import Context, Pdb, Workload
from hitless.controllers.controller_utils import scaled_value


def covered(ctx: Context, pdb: Pdb) -> list[Workload]:
    """The workloads of the budget's namespace whose pod labels its selector matches (no selector:
    none; an empty one: all, as policy/v1 reads it)."""
    if pdb.selector is None:
        return []
    return [w for w in ctx.workloads if w.obj.namespace == pdb.namespace and pdb.selector.matches(w.labels)]


def min_available(pdb: Pdb, replicas: int) -> int | None:
    """The budget's desiredHealthy for ``replicas`` pods (disruption.go getExpectedPodCount)."""
    if pdb.pdb is None:
        return None
    spec = pdb.pdb.spec
    if spec.max_unavailable is not None:
        return max(replicas - scaled_value(spec.max_unavailable, replicas, True), 0)
    if spec.min_available is not None:
        return scaled_value(spec.min_available, replicas, True)
    return None
