"""``hpa-below-pdb``: a HorizontalPodAutoscaler may scale a Deployment down to fewer pods than a
PodDisruptionBudget of its pods requires."""

from __future__ import annotations

from collections.abc import Iterator

from hitless.check.finding import Finding, Severity
from hitless.check.model import Context
from hitless.check.rule import Rule
from hitless.check.rules._pdb import covered, min_available


def _check(ctx: Context) -> Iterator[Finding]:
    for where, hpa in ctx.of_kind("HorizontalPodAutoscaler"):
        spec = hpa.to_json().get("spec") or {}
        target = spec.get("scaleTargetRef") or {}
        if target.get("kind") != "Deployment":
            continue
        min_replicas = spec.get("minReplicas")
        min_replicas = 1 if min_replicas is None else min_replicas
        for pdb in ctx.pdbs:
            if pdb.pdb is None or pdb.obj is None or pdb.pdb.spec.min_available is None:
                continue
            if not any(
                w.deployment is not None and w.obj.name == target.get("name") for w in covered(ctx, pdb)
            ):
                continue
            if where.namespace != pdb.namespace:
                continue
            desired = min_available(pdb, min_replicas)
            if desired is None or min_replicas >= desired:
                continue
            yield ctx.finding(
                RULE,
                where,
                "spec.minReplicas",
                f"minReplicas {min_replicas} is below minAvailable {pdb.pdb.spec.min_available} of "
                f'PodDisruptionBudget "{pdb.name}" (line {pdb.obj.line}): scaled down to {min_replicas}, '
                f'Deployment "{target.get("name")}" can never meet its budget, which then refuses every '
                "eviction and holds node drains",
                numbers={"minReplicas": min_replicas, "desiredHealthy": desired},
            )


RULE = Rule(
    id="hpa-below-pdb",
    severity=Severity.WARNING,
    summary="A HorizontalPodAutoscaler's minReplicas is below a PodDisruptionBudget's minAvailable",
    behaviour=(
        "The autoscaler may scale the Deployment down to minReplicas. With fewer pods than the budget's "
        "minAvailable, currentHealthy stays below desiredHealthy: disruptionsAllowed is 0 and the "
        "Eviction API refuses every eviction of these pods, so drains and node upgrades block."
    ),
    fix="Raise the autoscaler's minReplicas above minAvailable, or express the budget as maxUnavailable.",
    check=_check,
)
