"""``--format sarif``: SARIF 2.1.0, as GitHub code scanning and the incumbents' SARIF read."""

from __future__ import annotations

import json
from typing import Any

from hitless import __version__
from hitless.check.finding import Severity
from hitless.check.runner import Report

SCHEMA = "https://raw.githubusercontent.com/oasis-tcs/sarif-spec/master/Schemata/sarif-schema-2.1.0.json"
_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def render(report: Report) -> str:
    rules = list(report.rules)
    index = {r.id: i for i, r in enumerate(rules)}
    results: list[dict[str, Any]] = []
    for f in report.findings:
        region = {"startLine": f.line} if f.line > 0 else None
        physical: dict[str, Any] = {"artifactLocation": {"uri": f.file}}
        if region:
            physical["region"] = region
        location: dict[str, Any] = {"physicalLocation": physical}
        if f.kind:
            location["logicalLocations"] = [
                {
                    "name": f.name or "",
                    "fullyQualifiedName": f"{f.namespace or 'default'}/{f.kind}/{f.name}",
                    "kind": "object",
                }
            ]
        results.append(
            {
                "ruleId": f.rule,
                "ruleIndex": index[f.rule],
                "level": _LEVEL[f.severity],
                "message": {"text": f"{f.message}. Fix: {f.fix}"},
                "locations": [location],
                "properties": {"field": f.field, "numbers": f.numbers, "behaviour": f.behaviour},
            }
        )
    log = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "hitless check",
                        "version": __version__,
                        "rules": [
                            {
                                "id": r.id,
                                "shortDescription": {"text": r.summary},
                                "fullDescription": {"text": r.behaviour},
                                "help": {"text": r.fix},
                                "defaultConfiguration": {"level": _LEVEL[r.severity]},
                            }
                            for r in rules
                        ],
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"
