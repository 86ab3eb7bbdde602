"""Per-object suppression by annotation: hitless's own, and the incumbents' where a rule maps.

- ``hitless.dev/ignore: rule-id[,rule-id]``
- ``kube-score/ignore: test-id[,test-id]`` (kube-score README)
- ``ignore-check.kube-linter.io/<check>: "<reason>"`` and ``kube-linter.io/ignore-all``
  (kube-linter docs/configuring-kubelinter.md)
"""

from __future__ import annotations

from collections.abc import Mapping

from hitless.check.rule import Rule

HITLESS_IGNORE = "hitless.dev/ignore"
KUBE_SCORE_IGNORE = "kube-score/ignore"
KUBE_LINTER_PREFIX = "ignore-check.kube-linter.io/"
KUBE_LINTER_ALL = "kube-linter.io/ignore-all"


def _ids(value: str | None) -> set[str]:
    return {part.strip() for part in (value or "").split(",") if part.strip()}


def suppressed(rule: Rule, annotations: Mapping[str, str]) -> bool:
    if not rule.suppressible or not annotations:
        return False
    if rule.id in _ids(annotations.get(HITLESS_IGNORE)):
        return True
    if set(rule.kube_score) & _ids(annotations.get(KUBE_SCORE_IGNORE)):
        return True
    if rule.kube_linter and KUBE_LINTER_ALL in annotations:
        return True
    return any(KUBE_LINTER_PREFIX + check in annotations for check in rule.kube_linter)
