"""``invalid-object``: what the API server (or kubectl) would refuse, in its own words."""

from __future__ import annotations

from collections.abc import Iterator

from hitless.check.finding import Finding, Severity
from hitless.check.model import Context
from hitless.check.rule import Rule


def _check(ctx: Context) -> Iterator[Finding]:
    for e in ctx.result.errors:
        if e.category == "file":
            continue  # cannot be read at all: the command's exit status 2, not a finding
        obj = next((o for o in ctx.objects if (o.file, o.line) == (e.file, e.object_line)), None)
        yield Finding(
            rule=RULE.id,
            severity=Severity.ERROR,
            message=e.message,
            file=e.file,
            line=e.line,
            kind=e.kind,
            name=e.name,
            namespace=obj.namespace if obj else None,
            field=e.field,
            behaviour=RULE.behaviour,
            fix=_fix(e.category, e.message),
            numbers={},
        )


YAML_FIX = "Correct the YAML at the line named: nothing of this document can be read until it parses."
NO_MATCH_FIX = (
    "Correct apiVersion and kind as the API serves them (kubectl api-resources; docs/kinds.md), or add "
    "the CustomResourceDefinition of the kind to the input."
)
NAMESPACE_FIX = "Create the namespace first: a Namespace object earlier in the input, or use an existing one."


def _fix(category: str, message: str) -> str:
    if category == "yaml":
        return YAML_FIX
    if message.startswith("resource mapping not found"):
        return NO_MATCH_FIX
    if "namespaces " in message and message.split(": ", 1)[-1].startswith("namespaces "):
        return NAMESPACE_FIX
    return RULE.fix


RULE = Rule(
    id="invalid-object",
    severity=Severity.ERROR,
    summary="The API server (or kubectl) rejects the object",
    behaviour=(
        "kubectl apply sends each object on its own; the API server decodes it strictly and "
        "validates it, and refuses it whole on any error, so nothing of it is created or changed "
        "while the other objects are applied. hitless still checks the object as written, so "
        "the problems it will meet once accepted are reported in the same run."
    ),
    fix="Correct the field the message names (a number where a string belongs must be quoted).",
    check=_check,
    suppressible=False,
)
