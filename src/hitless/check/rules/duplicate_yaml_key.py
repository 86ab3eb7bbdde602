"""``duplicate-yaml-key``: a key written twice in one YAML mapping; only the last value counts."""

from __future__ import annotations

from collections.abc import Iterator

from hitless.check.finding import Finding, Severity
from hitless.check.model import Context
from hitless.check.rule import Rule


def _check(ctx: Context) -> Iterator[Finding]:
    for w in ctx.result.warnings:
        obj = None
        for o in ctx.objects:
            if o.file == w.file and o.line <= w.line:
                obj = o
        yield Finding(
            rule=RULE.id,
            severity=RULE.severity,
            message=w.message,
            file=w.file,
            line=w.line,
            kind=obj.kind if obj else None,
            name=obj.name if obj else None,
            namespace=obj.namespace if obj else None,
            field=None,
            behaviour=RULE.behaviour,
            fix=RULE.fix,
            numbers={},
        )


RULE = Rule(
    id="duplicate-yaml-key",
    severity=Severity.WARNING,
    summary="A YAML key is written twice in one mapping",
    behaviour=(
        "kubectl converts YAML to JSON with go-yaml's non-strict Unmarshal: the last value of a "
        "repeated key wins silently, and the API server never sees the first one."
    ),
    fix="Merge the two entries into one.",
    check=_check,
)
