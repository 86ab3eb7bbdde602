"""Property-based tests: whatever the input, the loader, validation and ``hitless check`` answer
(exit 0, 1 or 2, every output format well-formed) and never raise.

Each entry point runs ``HITLESS_FUZZ_EXAMPLES`` examples (200 by default, the CI budget); set it
higher for a longer run (docs/reliability.md gives the figures of one). fuzz/fuzz_check.py is the
same property for atheris, for runs of hours.
"""

from __future__ import annotations

import io
import os
import xml.dom.minidom
from typing import Any

from hypothesis import HealthCheck, given, settings

from hitless.api import load_text
from hitless.check.formats import FORMATS
from hitless.check.runner import run_check

from .strategies import dump, mutated_objects, texts

EXAMPLES = int(os.environ.get("HITLESS_FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


def _loads(text: str) -> None:
    result = load_text(text, "fuzz.yaml")
    for e in result.errors:
        assert isinstance(e.message, str) and e.message
        assert e.line >= 0


@FUZZ
@given(texts)
def test_the_loader_never_raises(text: str) -> None:
    _loads(text)


@FUZZ
@given(mutated_objects())
def test_validation_never_raises(docs: list[dict[str, Any]]) -> None:
    try:
        text = dump(docs)
    except (ValueError, UnicodeEncodeError):  # PyYAML cannot write a lone surrogate
        return
    _loads(text)


@FUZZ
@given(texts)
def test_check_exits_0_1_or_2_and_every_format_renders(text: str) -> None:
    report = run_check(["-"], stdin=io.StringIO(text))
    assert report.exit_code in (0, 1, 2)
    for name, render in FORMATS.items():
        out = render(report)
        if name == "junit":
            xml.dom.minidom.parseString(out.encode("utf-8", "surrogatepass"))
