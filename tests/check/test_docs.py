"""docs/rules.md is generated from the rules; the committed file must be what the code generates."""

from __future__ import annotations

from hitless.check.docs import markdown
from hitless.check.registry import all_rules

from .helpers import ROOT

DOC = ROOT / "docs" / "rules.md"


def test_docs_rules_md_is_up_to_date() -> None:
    assert DOC.read_text() == markdown(), (
        "regenerate: hitless check --list-rules --format markdown > docs/rules.md"
    )


def test_every_rule_is_documented_with_behaviour_and_fix() -> None:
    text = DOC.read_text()
    for rule in all_rules():
        assert f"### {rule.id}\n" in text
        assert rule.behaviour and rule.fix and rule.summary
