"""``duplicate-object``: the same kind, namespace and name defined twice in the input."""

from __future__ import annotations

from collections.abc import Iterator

from hitless.check.finding import Finding, Severity
from hitless.check.model import Context, Obj
from hitless.check.rule import Rule


def _check(ctx: Context) -> Iterator[Finding]:
    first: dict[tuple[str, str, str], Obj] = {}
    for obj in ctx.objects:
        key = (obj.kind, obj.namespace, obj.name)
        earlier = first.setdefault(key, obj)
        if earlier is obj:
            continue
        yield ctx.finding(
            RULE,
            obj,
            "metadata.name",
            f'{obj.kind} "{obj.name}" is already defined at {earlier.file}:{earlier.line}: applied in '
            "order, this one replaces it, and only one of the two exists on the cluster",
        )


RULE = Rule(
    id="duplicate-object",
    severity=Severity.WARNING,
    summary="An object is defined twice in the input",
    behaviour=(
        "kubectl apply sends the objects in order; the second one with the same kind, namespace "
        "and name updates the first, so the first one's configuration is silently lost."
    ),
    fix="Keep one definition, or give the alternatives different names (or separate files).",
    check=_check,
)
