"""Where each finding's field is written: ``file:line`` and a few lines of the manifest around it.

report.json carries them (``findings[].source``) so that report.html, which is rendered from
report.json alone, can show the lines a finding names wherever the report is opened.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hitless.api.fieldpath import parse
from hitless.api.loader import STDIN_NAME, LoadedObject

# Lines shown before and after the named one.
CONTEXT = 4


def locate(findings: list[dict[str, Any]], objects: list[LoadedObject]) -> None:
    """Add ``source`` to each finding of report.json whose object is one of the manifests':
    ``{"file", "line", "written", "excerpt": {"start", "lines"}}`` (``excerpt`` null when the file
    cannot be read again, e.g. stdin). The line is the field's, or when the field is not written
    (``written`` false) its nearest ancestor's: where the value goes."""
    by_name = {f"{o.kind}/{o.name}": o for o in objects}
    texts: dict[str, list[str] | None] = {}
    for finding in findings:
        loaded = by_name.get(finding.get("object") or "")
        if loaded is None:
            finding["source"] = None
            continue
        field = finding.get("field")
        line = loaded.line_of(field) if field else loaded.line
        written = not field or loaded.source.prefix + parse(field) in loaded.source.lines
        if loaded.file not in texts:
            texts[loaded.file] = _lines(loaded.file)
        text = texts[loaded.file]
        excerpt = None
        if text is not None and 1 <= line <= len(text):
            start = max(1, line - CONTEXT)
            excerpt = {"start": start, "lines": text[start - 1 : min(len(text), line + CONTEXT)]}
        finding["source"] = {"file": loaded.file, "line": line, "written": written, "excerpt": excerpt}


def _lines(file: str) -> list[str] | None:
    if file == STDIN_NAME:
        return None
    try:
        return Path(file).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
