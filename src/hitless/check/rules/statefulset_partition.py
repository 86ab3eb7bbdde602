"""``statefulset-partition``: a StatefulSet's ``partition`` above zero holds part of every rollout."""

from __future__ import annotations

from collections.abc import Iterator

from hitless.api.types.statefulset import StatefulSet
from hitless.check.finding import Finding, Severity
from hitless.check.model import Context
from hitless.check.rule import Rule


def _check(ctx: Context) -> Iterator[Finding]:
    for w in ctx.workloads:
        s = w.controller
        if not isinstance(s, StatefulSet) or s.spec.update_strategy.type != "RollingUpdate":
            continue
        rolling = s.spec.update_strategy.rolling_update
        partition = rolling.partition if rolling is not None else None
        if not partition:
            continue
        held = min(partition, w.replicas)
        yield ctx.finding(
            RULE,
            w.obj,
            "spec.updateStrategy.rollingUpdate.partition",
            f"partition {partition}: a rollout updates only ordinals {partition} and up; "
            f"{held} of {w.replicas} pods (ordinals below {partition}) keep the old template, and a "
            "deleted one comes back with it, until the partition is lowered",
            numbers={"partition": partition, "replicas": w.replicas, "held_back": held},
        )


RULE = Rule(
    id="statefulset-partition",
    severity=Severity.WARNING,
    summary="A StatefulSet's rollingUpdate.partition is above zero",
    behaviour=(
        "The StatefulSet controller updates only the pods whose ordinal is at least the partition; "
        "the others stay at the current revision, are recreated at it when deleted, and "
        "`kubectl rollout status` reports a partitioned roll out as complete. A partition left in "
        "place after a canary means the next release never reaches those pods."
    ),
    fix="Lower spec.updateStrategy.rollingUpdate.partition to 0 once the canary is done.",
    check=_check,
)
