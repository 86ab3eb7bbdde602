"""``pdb-selects-nothing``: a PodDisruptionBudget whose selector matches no pod template in the input."""

from __future__ import annotations

from collections.abc import Iterator

from hitless.check.finding import Finding, Severity
from hitless.check.model import Context
from hitless.check.rule import Rule
from hitless.check.rules._pdb import covered


def _check(ctx: Context) -> Iterator[Finding]:
    for pdb in ctx.pdbs:
        if pdb.pdb is None or pdb.obj is None or covered(ctx, pdb):
            continue
        selector = pdb.selector
        if selector is not None and any(
            ns == pdb.namespace and selector.matches(labels) for ns, labels in ctx.other_templates
        ):
            continue  # a StatefulSet, DaemonSet, Job... hitless does not model
        if selector is None:
            detail = "it has no selector, which matches no pod"
        else:
            detail = "its selector matches no pod template in the input"
        yield ctx.finding(
            RULE,
            pdb.obj,
            "spec.selector",
            f"{detail}: it protects nothing, and the disruption controller reports it with expectedPods: 0 "
            "and a NoPods event",
        )


RULE = Rule(
    id="pdb-selects-nothing",
    severity=Severity.WARNING,
    summary="A PodDisruptionBudget's selector matches no pod template in the input",
    behaviour=(
        "A budget covers the pods of its namespace that its selector matches. One that matches none "
        "protects nothing: evictions of the pods it was meant for go through unchecked."
    ),
    fix="Make spec.selector match the labels of the pod template it is meant for.",
    check=_check,
)
