"""``rollout-strategy``: a Deployment strategy that takes every replica down at once."""

from __future__ import annotations

import math
from collections.abc import Iterator

from hitless.api.types.base import IntOrString
from hitless.check import apps
from hitless.check.finding import Finding, Severity
from hitless.check.model import Context, Workload
from hitless.check.rule import Rule
from hitless.check.timeline import ProbeTiming, termination


def scaled(value: IntOrString | None, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = value.strip()
    if text.endswith("%") and text[:-1].isdigit():
        exact = int(text[:-1]) * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(text) if text.isdigit() else 0


def _outage_s(w: Workload) -> float:
    """Old pods gone (Recreate waits for them to terminate) + a new pod started and Ready."""
    gone = 0.0
    ready = 0.0
    for c in w.spec.containers:
        t = termination(c, w.grace_s)
        app = apps.demo_app(c)
        if app is not None and app.serves_after_sigterm_s is not None and t.prestop_s is not None:
            gone = max(gone, min(t.signal_at_s + app.drain_s, t.kill_at_s))
        else:
            gone = max(gone, t.signal_at_s)
        start = (app.startup_delay_s if app else 0.0) + 0.0
        if c.readiness_probe is not None:
            start = max(start, float(ProbeTiming.of(c.readiness_probe).first_success_s))
        ready = max(ready, start)
    return gone + ready


def _check(ctx: Context) -> Iterator[Finding]:
    for w in ctx.workloads:
        d = w.deployment
        if d is None:
            continue
        services = ctx.services_of(w)
        strategy = d.spec.strategy
        if strategy.type == "Recreate":
            if not services:
                continue
            outage = _outage_s(w)
            yield ctx.finding(
                RULE,
                w.obj,
                "spec.strategy.type",
                f"strategy Recreate, and {ctx.via(services[0], w)}: every rollout deletes all "
                f"{w.replicas} pods, "
                f"waits until they are gone, then starts the new ones: no endpoint for at least "
                f"{outage:g} s (termination + start-up to Ready)",
                numbers={"outage_s": round(outage, 3), "replicas": w.replicas},
            )
            continue
        rolling = strategy.rolling_update
        if rolling is None or w.replicas < 1:
            continue
        unavailable = scaled(rolling.max_unavailable, w.replicas, round_up=False)
        surge = scaled(rolling.max_surge, w.replicas, round_up=True)
        if surge == 0 and unavailable == 0:
            unavailable = 1  # ResolveFenceposts
        if unavailable >= w.replicas:
            yield ctx.finding(
                RULE,
                w.obj,
                "spec.strategy.rollingUpdate.maxUnavailable",
                f"maxUnavailable resolves to {unavailable} of {w.replicas} replicas: a rollout may take "
                "every replica down at once",
                numbers={"max_unavailable": unavailable, "max_surge": surge, "replicas": w.replicas},
                fix="Set maxUnavailable: 0 and maxSurge: 1 (or 25%).",
            )


RULE = Rule(
    id="rollout-strategy",
    severity=Severity.ERROR,
    summary="Recreate behind a Service, or a rolling update that allows every replica down",
    behaviour=(
        "Recreate scales the old ReplicaSet to 0 and waits until none of its pods runs (a "
        "terminating pod counts) before creating the new ones, so the Service has no endpoint for "
        "the old pods' termination plus the new pods' start-up. A RollingUpdate's maxUnavailable "
        "(rounded down from a percentage) bounds how many replicas may be unavailable at once."
    ),
    fix="Use RollingUpdate with maxUnavailable: 0 and maxSurge >= 1.",
    check=_check,
    kube_score=("deployment-strategy",),
    kube_linter=("no-rolling-update-strategy",),
)
