"""``single-replica``: one pod serves a Service: any disruption of it is an outage."""

from __future__ import annotations

from collections.abc import Iterator

from hitless.api.types.statefulset import StatefulSet
from hitless.check.finding import Finding, Severity
from hitless.check.model import Context
from hitless.check.rule import Rule


def _check(ctx: Context) -> Iterator[Finding]:
    for w in ctx.workloads:
        services = ctx.services_of(w)
        if w.deployment is not None:
            if w.replicas != 1:
                continue
            yield ctx.finding(
                RULE,
                w.obj,
                "spec.replicas",
                "one replica: a rollout is safe only through the surge pod, and a crash, an eviction "
                "or a node drain leaves the Service with no endpoint",
                numbers={"replicas": 1},
            )
        elif isinstance(w.controller, StatefulSet) and w.replicas == 1:
            yield ctx.finding(
                RULE,
                w.obj,
                "spec.replicas",
                "one replica: a StatefulSet replaces its pod by deleting it first, so every rollout, "
                "crash, eviction or node drain leaves its Services with no endpoint until the new pod "
                "is Ready",
                numbers={"replicas": 1},
            )
        elif services and w.controller is None:
            yield ctx.finding(
                RULE,
                w.obj,
                "metadata.name",
                f"a bare Pod behind a Service ({ctx.via(services[0], w)}): no controller replaces it, "
                "so every change is delete-then-create (an outage of its whole termination and "
                "start-up), and a failed node takes the Service down",
                numbers={"replicas": 1},
                fix="Run it as a Deployment with at least 2 replicas.",
            )


RULE = Rule(
    id="single-replica",
    severity=Severity.WARNING,
    summary="A Deployment with one replica, or a bare Pod behind a Service",
    behaviour=(
        "With one pod, whatever stops it (crash, liveness restart, eviction, node drain, a Pod "
        "changed by delete and create) leaves its Services with no ready endpoint until a "
        "replacement is Ready."
    ),
    fix="Run at least 2 replicas (spec.replicas), from a Deployment.",
    check=_check,
    kube_score=("deployment-replicas",),
    kube_linter=("minimum-three-replicas",),
)
