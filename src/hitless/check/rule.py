"""A rule: its id, what it reports, the incumbents' ids it maps to, and the function that checks."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hitless.check.finding import Severity

if TYPE_CHECKING:
    from hitless.check.finding import Finding
    from hitless.check.model import Context


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity  # the most severe level it reports; some findings are milder
    summary: str
    behaviour: str  # the Kubernetes behaviour behind it (docs/rules.md, SARIF fullDescription)
    fix: str
    check: Callable[[Context], Iterable[Finding]]
    kube_score: tuple[str, ...] = ()  # kube-score/ignore values that silence it too
    kube_linter: tuple[str, ...] = ()  # ignore-check.kube-linter.io/<check> names that silence it too
    suppressible: bool = True
