"""``shell-pid1``: a shell-form command that leaves a shell as the container's PID 1."""

from __future__ import annotations

import re
from collections.abc import Iterator

from hitless.check import apps
from hitless.check.finding import Finding, Severity
from hitless.check.model import Context
from hitless.check.rule import Rule

# Anything that makes the script more than one simple command keeps the shell around.
_COMPOUND = re.compile(r"[;&|\n`]|\$\(|\b(if|for|while|case|trap)\b")


def _check(ctx: Context) -> Iterator[Finding]:
    for w in ctx.workloads:
        for c, path in w.containers():
            words = apps.argv(c)
            if words and apps.base(words[0]) in apps.INITS:
                continue
            if words[:2] and apps.base(words[0]) == "hitless" and words[1:2] == ["init"]:
                continue
            script = apps.shell_script(words)
            if script is None:
                continue
            stripped = script.strip()
            if stripped.startswith("exec ") or not _COMPOUND.search(stripped):
                # `sh -c 'exec app'` replaces the shell; bash and dash also exec a lone command.
                continue
            field = "command" if c.command else "args"
            yield ctx.finding(
                RULE,
                w.obj,
                f"{path}.{field}",
                f"container {c.name!r}: {words[0]} -c runs the script as PID 1 and does not forward "
                "SIGTERM: the kernel ignores the signal for a PID 1 without a handler, so every "
                f"stop waits the whole grace period ({w.grace_s} s) and ends in SIGKILL, and the "
                "app's children never get a clean shutdown",
                numbers={"grace_period_s": w.grace_s},
            )


RULE = Rule(
    id="shell-pid1",
    severity=Severity.WARNING,
    summary="A shell-form command leaves a shell as PID 1, which does not pass SIGTERM on",
    behaviour=(
        "The stop signal goes only to the container's PID 1. A shell running a script does not "
        "forward it, and as PID 1 of its PID namespace it has no default action for it either: "
        "the container stops only at SIGKILL when the grace period ends, and when PID 1 dies the "
        "kernel SIGKILLs every other process of the container."
    ),
    fix="End the script with `exec app ...`, or run it under an init (hitless init, tini -g, dumb-init).",
    check=_check,
)
