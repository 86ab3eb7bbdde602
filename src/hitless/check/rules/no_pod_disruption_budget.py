"""``no-pod-disruption-budget``: no PodDisruptionBudget covers a replicated Deployment."""

from __future__ import annotations

from collections.abc import Iterator

from hitless.check.finding import Finding, Severity
from hitless.check.model import Context
from hitless.check.rule import Rule


def _check(ctx: Context) -> Iterator[Finding]:
    for w in ctx.workloads:
        if w.deployment is None or w.replicas < 2:
            continue
        if any(
            p.namespace == w.obj.namespace and p.selector is not None and p.selector.matches(w.labels)
            for p in ctx.pdbs
        ):
            continue
        yield ctx.finding(
            RULE,
            w.obj,
            "spec.template.metadata.labels",
            f"no PodDisruptionBudget in the input selects these pods: a node drain may evict all "
            f"{w.replicas} replicas at once",
            numbers={"replicas": w.replicas},
        )


RULE = Rule(
    id="no-pod-disruption-budget",
    severity=Severity.INFO,
    summary="No PodDisruptionBudget covers a replicated Deployment",
    behaviour=(
        "Voluntary disruptions (kubectl drain, cluster autoscaler, node upgrades) use the "
        "Eviction API, which respects PodDisruptionBudgets; without one, every replica on the "
        "drained nodes may be evicted at the same time. Rollouts are not limited by it."
    ),
    fix="Add a policy/v1 PodDisruptionBudget with maxUnavailable: 1 selecting the pod template's labels.",
    check=_check,
    kube_score=("deployment-has-poddisruptionbudget",),
)
