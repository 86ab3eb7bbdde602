"""``no-readiness-probe``: a workload that receives Service traffic with no readiness probe."""

from __future__ import annotations

from collections.abc import Iterator

from hitless.check import apps
from hitless.check.finding import Finding, Number, Severity
from hitless.check.model import Context
from hitless.check.rule import Rule


def _check(ctx: Context) -> Iterator[Finding]:
    for w in ctx.workloads:
        services = ctx.services_of(w)
        if not services or any(c.readiness_probe is not None for c, _ in w.containers()):
            continue
        container, path = next(w.containers())
        numbers: dict[str, Number] = {"ready_after_start_s": 0}
        late = ""
        demo = apps.demo_app(container)
        if demo is not None and demo.startup_delay_s > 0:
            numbers["listens_after_start_s"] = demo.startup_delay_s
            late = (
                f"; the app listens only {demo.startup_delay_s:g} s after it starts, so every new pod "
                f"refuses connections for {demo.startup_delay_s:g} s while it is an endpoint"
            )
        yield ctx.finding(
            RULE,
            w.obj,
            path,
            f"{ctx.via(services[0], w)}, but no container has a readiness probe: each pod is Ready "
            f"and an endpoint as soon as its containers start{late}",
            numbers=numbers,
        )


RULE = Rule(
    id="no-readiness-probe",
    severity=Severity.ERROR,
    summary="A workload a Service selects has no readiness probe",
    behaviour=(
        "A container without a readiness probe counts as ready once it is running, so the pod "
        "becomes a ready endpoint of every Service selecting it before the app listens; during a "
        "rolling update the Deployment also counts it available and deletes an old pod at once."
    ),
    fix="Add a readinessProbe on the port the Service targets (httpGet of a /readyz-like path).",
    check=_check,
    kube_score=("pod-probes",),
    kube_linter=("no-readiness-probe",),
)
