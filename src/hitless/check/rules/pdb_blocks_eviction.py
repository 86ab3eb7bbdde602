"""``pdb-blocks-eviction``: a PodDisruptionBudget that allows no eviction at all, so a node drain
never finishes."""

from __future__ import annotations

from collections.abc import Iterator

from hitless.check.finding import Finding, Severity
from hitless.check.model import Context
from hitless.check.rule import Rule
from hitless.check.rules._pdb import covered, min_available


def _check(ctx: Context) -> Iterator[Finding]:
    for pdb in ctx.pdbs:
        if pdb.pdb is None or pdb.obj is None:
            continue
        workloads = covered(ctx, pdb)
        if not workloads:
            continue  # pdb-selects-nothing
        replicas = sum(w.replicas for w in workloads)
        desired = min_available(pdb, replicas)
        if desired is None or replicas - desired > 0:
            continue
        spec = pdb.pdb.spec
        field = "spec.maxUnavailable" if spec.max_unavailable is not None else "spec.minAvailable"
        written = spec.max_unavailable if spec.max_unavailable is not None else spec.min_available
        names = ", ".join(f'{w.obj.kind} "{w.obj.name}"' for w in workloads)
        yield ctx.finding(
            RULE,
            pdb.obj,
            field,
            f"{field.split('.')[1]}: {written} with {replicas} pod(s) ({names}) allows no disruption: every "
            "eviction is refused (429 TooManyRequests) and a node drain waits for ever",
            numbers={"replicas": replicas, "desiredHealthy": desired},
        )


RULE = Rule(
    id="pdb-blocks-eviction",
    severity=Severity.WARNING,
    summary="A PodDisruptionBudget allows no eviction at all (maxUnavailable: 0, minAvailable = replicas)",
    behaviour=(
        "The disruption controller allows currentHealthy - desiredHealthy evictions. With "
        "maxUnavailable: 0, or minAvailable equal to (or above) the replicas it covers, that is 0 even "
        "when every pod is Ready: the Eviction API refuses every eviction with 429, so kubectl drain, "
        "the cluster autoscaler and node upgrades wait until someone deletes the budget."
    ),
    fix="Allow one disruption: maxUnavailable: 1, or minAvailable below the number of replicas.",
    check=_check,
)
