"""Output formats of ``hitless check``: each module has ``render(report) -> str``."""

from __future__ import annotations

from collections.abc import Callable

from hitless.check.formats import json_format, junit, sarif, text
from hitless.check.runner import Report

FORMATS: dict[str, Callable[[Report], str]] = {
    "text": text.render,
    "json": json_format.render,
    "sarif": sarif.render,
    "junit": junit.render,
}
