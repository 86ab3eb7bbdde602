"""``prestop-propagation``: a pod stops serving before every node has stopped routing to it."""

from __future__ import annotations

from collections.abc import Iterator

from hitless.check.finding import Finding, Severity
from hitless.check.model import Context
from hitless.check.rule import Rule
from hitless.check.rules._serving import serving


def _check(ctx: Context) -> Iterator[Finding]:
    need = ctx.params.propagation_s
    for w in ctx.workloads:
        services = ctx.services_of(w)
        if not services:
            continue
        for i, c in enumerate(w.spec.containers):
            s = serving(c, w.grace_s)
            if s is None or s.until_s >= need:
                continue
            gap = need - s.until_s
            tail = "" if s.known else " (unless the app itself keeps serving that long after SIGTERM)"
            yield ctx.finding(
                RULE,
                w.obj,
                f"{w.pod_path}.containers[{i}].lifecycle"
                if s.termination.has_prestop
                else f"{w.pod_path}.containers[{i}]",
                f"container {c.name!r}: {ctx.via(services[0], w)}; a deleted pod stops serving after "
                f"{s.until_s:g} s ({s.explained}), but nodes keep routing new connections to it for up "
                f"to {need:g} s: up to {gap:g} s of refused connections per replaced pod{tail}",
                severity=Severity.ERROR if s.known else Severity.WARNING,
                numbers={
                    "propagation_delay_s": need,
                    "prestop_s": s.termination.prestop_s,
                    "serving_after_deletion_s": s.until_s,
                    "uncovered_s": round(gap, 3),
                },
                fix=(
                    f"Add lifecycle.preStop.sleep.seconds of at least {int(-(-need // 1))} (more on large "
                    "clusters or behind ingress controllers), keeping terminationGracePeriodSeconds above "
                    "the sleep plus the app's drain."
                ),
            )


RULE = Rule(
    id="prestop-propagation",
    severity=Severity.ERROR,
    summary="No preStop delay (or app drain) covers endpoint propagation",
    behaviour=(
        "Deleting a pod starts two independent tracks: the kubelet runs preStop then sends "
        "SIGTERM, while the EndpointSlice controller marks the endpoint terminating and every "
        "node's kube-proxy rewrites its rules at its next sync (minSyncPeriod 1 s, plus watch "
        "latency). Nothing makes one wait for the other, so an app that stops listening at "
        "SIGTERM refuses the connections that still arrive. A preStop sleep keeps it serving "
        "until every node has stopped routing to it. Error when the app's SIGTERM behaviour is "
        "known (hitless demo-app), warning otherwise."
    ),
    fix="Add a preStop sleep longer than the propagation delay (lifecycle.preStop.sleep.seconds).",
    check=_check,
)
