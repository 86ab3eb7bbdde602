"""Every rule: each module of ``hitless.check.rules`` (not starting with ``_``) defines ``RULE``.

So a new rule is one new file; docs/rules.md, SARIF's rule list and ``--list-rules`` follow.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from hitless.check import rules as rules_package
from hitless.check.rule import Rule


@cache
def all_rules() -> tuple[Rule, ...]:
    found: list[Rule] = []
    for info in pkgutil.iter_modules(rules_package.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{rules_package.__name__}.{info.name}")
        rule = getattr(module, "RULE", None)
        if not isinstance(rule, Rule):
            raise TypeError(f"{module.__name__} defines no RULE")
        found.append(rule)
    ids = [r.id for r in found]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise ValueError(f"rule ids defined twice: {sorted(duplicates)}")
    return tuple(sorted(found, key=lambda r: r.id))
