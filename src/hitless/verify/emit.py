"""A verify run's report, written and printed: the one place a local run and a cluster run share.

``--report DIR`` gets ``report.json`` (docs/verify.md), ``report.html`` (verify/html.py) and, for a
local run, ``timeline.png``; stdout gets the report as text, JSON or JUnit XML.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from hitless.api.loader import LoadedObject
from hitless.verify.html import render_html
from hitless.verify.report import Report
from hitless.verify.sources import locate


def emit(
    report: Report,
    document: dict[str, Any],
    loaded: Sequence[LoadedObject],
    *,
    output: str = "text",
    report_dir: str | Path | None = None,
    picture: bool = True,
    picture_gaps: Sequence[dict[str, Any]] = (),
    trailer: str = "",
    stdout: TextIO | None = None,
) -> None:
    """Name each finding's manifest lines in ``document`` (report.json's shape), write DIR, print.

    ``trailer`` ends the text output (a cluster run's server, namespace and evidence counts);
    ``picture_gaps`` are a cluster run's watch gaps, shaded on timeline.png.
    """
    locate(document["findings"], list(loaded))
    if report_dir:
        write_report_dir(Path(report_dir), document, report if picture else None, picture_gaps)
    out = stdout if stdout is not None else sys.stdout
    if output == "json":
        out.write(json.dumps(document, indent=2) + "\n")
    elif output == "junit":
        out.write(report.junit())
    else:
        out.write(report.text())
        out.write(trailer)


def write_report_dir(
    out: Path,
    document: dict[str, Any],
    picture: Report | None = None,
    gaps: Sequence[dict[str, Any]] = (),
) -> None:
    """report.json and report.html in ``out`` (made if missing); timeline.png from ``picture``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(document, indent=2) + "\n")
    (out / "report.html").write_text(render_html(document), encoding="utf-8")
    if picture is not None:
        # Not at import: matplotlib is slow to load, and only a report directory needs it.
        from hitless.verify.picture import write_png

        write_png(picture, out / "timeline.png", gaps=list(gaps))
