"""What a rule reports: one mistake, where it is, why it matters on Kubernetes, and the numbers."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum
from typing import Any

Number = int | float | str | None


class Severity(Enum):
    ERROR = "error"  # the configuration drops traffic or cannot be applied: exit 1
    WARNING = "warning"  # likely to drop traffic or restart needlessly, depending on the app
    INFO = "info"  # worth knowing: the timeline, a missing safety net

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: Severity
    message: str
    file: str
    line: int
    kind: str | None
    name: str | None
    namespace: str | None
    field: str | None  # the Kubernetes field path, as the API server prints it
    behaviour: str  # the Kubernetes behaviour that makes this a problem
    fix: str
    numbers: dict[str, Number] = dataclasses.field(default_factory=dict)

    def sort_key(self) -> tuple[Any, ...]:
        return (self.file, self.line, self.severity.rank, self.rule, self.kind or "", self.name or "")

    def to_json(self) -> dict[str, Any]:
        """The stable JSON shape of ``--format json`` (docs/rules.md documents it)."""
        return {
            "rule": self.rule,
            "severity": self.severity.value,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "object": {"kind": self.kind, "name": self.name, "namespace": self.namespace},
            "field": self.field,
            "behaviour": self.behaviour,
            "numbers": dict(self.numbers),
            "fix": self.fix,
        }
