"""``service-selects-nothing``: a Service whose selector matches no pod template in the input."""

from __future__ import annotations

from collections.abc import Iterator

from hitless.check.finding import Finding, Severity
from hitless.check.model import Context
from hitless.check.rule import Rule


def _check(ctx: Context) -> Iterator[Finding]:
    for svc in ctx.services:
        sel = svc.selector
        if not sel or ctx.selected_by(svc):
            continue
        ns = svc.obj.namespace
        if any(
            n == ns and all(labels.get(k) == v for k, v in sel.items()) for n, labels in ctx.other_templates
        ):
            continue  # a StatefulSet, DaemonSet, Job... hitless does not model
        wanted = ", ".join(f"{k}={v}" for k, v in sorted(sel.items()))
        presumed = ctx.presumed_for(svc)
        if presumed:
            w = presumed[0]
            have = ", ".join(f"{k}={v}" for k, v in sorted(w.labels.items())) or "none"
            hint = f'; {w.obj.kind} "{w.obj.name}" (line {w.obj.line}) has its name but labels {have}'
            fix = f'Label the pods of {w.obj.kind} "{w.obj.name}" with {wanted}, or fix the selector.'
        else:
            hint, fix = "", None
        has_workloads = bool(ctx.workloads or ctx.other_templates)
        yield ctx.finding(
            RULE,
            svc.obj,
            "spec.selector",
            f"the selector {wanted} matches no pod template in the input: the Service has no "
            f"endpoints and refuses every connection{hint}",
            severity=Severity.ERROR if has_workloads else Severity.INFO,
            fix=fix,
        )


RULE = Rule(
    id="service-selects-nothing",
    severity=Severity.ERROR,
    summary="A Service's selector matches no pod template in the input",
    behaviour=(
        "A Service's endpoints are the ready pods whose labels match every key of its selector. "
        "With none, connections to it are rejected (kube-proxy's REJECT rule) and its load "
        "balancer finds no healthy node. Info only when the input has no workloads at all."
    ),
    fix="Make the selector match the labels of the pod template (metadata.labels) it is meant for.",
    check=_check,
    kube_score=("service-targets-pod",),
    kube_linter=("dangling-service",),
)
