"""``--format json``: a list of findings, each with the fields of ``Finding.to_json``."""

from __future__ import annotations

import json

from hitless.check.runner import Report


def render(report: Report) -> str:
    return json.dumps([f.to_json() for f in report.findings], indent=2) + "\n"
