"""Human output: one block per finding, ``file:line``, then why and how to fix, and a summary."""

from __future__ import annotations

from hitless.check.finding import Finding, Severity
from hitless.check.formats.safe import for_terminal
from hitless.check.runner import Report


def _numbers(f: Finding) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in f.numbers.items())


def render(report: Report) -> str:
    lines: list[str] = []
    for f in report.findings:
        where = f"{f.file}:{f.line}" if f.line else f.file
        obj = f" ({f.kind}/{f.name})" if f.kind else ""
        lines.append(f"{where}: {f.severity.value}: {f.message} [{f.rule}]{obj}")
        if f.field:
            lines.append(f"    field: {f.field}")
        if f.numbers:
            lines.append(f"    numbers: {_numbers(f)}")
        lines.append(f"    fix: {f.fix}")
    errors, warnings, infos = (report.count(s) for s in (Severity.ERROR, Severity.WARNING, Severity.INFO))
    checked = len(report.objects)
    summary = f"{checked} object(s) checked: {errors} error(s), {warnings} warning(s), {infos} info" + (
        f", {report.suppressed} suppressed by annotation" if report.suppressed else ""
    )
    p = report.params
    lines.append(f"{summary} (propagation {p.propagation_s:g} s, load balancer {p.lb.name}, {p.nodes} nodes)")
    return for_terminal("\n".join(lines) + "\n")
