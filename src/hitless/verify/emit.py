"""A verify run's report, written and printed: the one place a local run and a cluster run share.

``--report DIR`` gets ``report.json`` (docs/verify.md), ``report.html`` (verify/html.py) and
``timeline.png``; stdout gets the report as text, JSON or JUnit XML. :func:`emit_result` does it
for a run's :class:`~hitless.verify.result.Result`, local or on a cluster.
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
from hitless.verify.result import Result
from hitless.verify.sources import locate


def emit_result(
    result: Result,
    loaded: Sequence[LoadedObject],
    *,
    output: str = "text",
    report_dir: str | Path | None = None,
    stdout: TextIO | None = None,
) -> None:
    """:func:`emit` for a run that judged (``result.report`` is not None); a cluster run's text
    ends with its server, namespace and evidence counts, and its watch gaps shade timeline.png."""
    if result.report is None:
        raise ValueError("no report: the run judged nothing")
    info = result.cluster
    emit(
        result.report,
        result.document(),
        loaded,
        output=output,
        report_dir=report_dir,
        picture_gaps=info.get("gaps", []) if info is not None else (),
        trailer=cluster_trailer(info) if info is not None else "",
        stdout=stdout,
    )


def cluster_trailer(info: dict[str, Any]) -> str:
    """The text report's last lines of a cluster run (report.json's ``cluster``)."""
    counts = ", ".join(f"{n} {e}" for e, n in info["evidence"].items())
    trailer = (
        f"cluster {info['server']}, namespace {info['namespace']}"
        f"; evidence: {counts or 'no failures'}; watch gaps: {len(info['gaps'])}\n"
    )
    if "agent" in info:
        # Here, not at import: the agent's module brings the cluster client, which a local run lacks.
        from hitless.verify.agent import agent_summary

        trailer += agent_summary(info["agent"]) + "\n"
    return trailer


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
