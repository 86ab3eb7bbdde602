"""Hostile inputs made from realistic ones: the manifests of examples/, tests/fixtures and the
shared seed, mutated in their text (tags, anchors, aliases, merge keys, odd scalars, control
characters, line edits) and in their values (any JSON-like value at any path)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

ROOT = Path(__file__).parent.parent.parent
SEED_FILES = sorted(
    [*ROOT.glob("examples/**/*.yaml"), *(ROOT / "tests" / "fixtures" / "manifests").glob("*.yaml")]
)
SEEDS = [p.read_text() for p in SEED_FILES]
DOCS: list[dict[str, Any]] = [d for text in SEEDS for d in yaml.safe_load_all(text) if isinstance(d, dict)]

TOKENS = [
    "!!int ", "!!bool ", "!!float ", "!!str ", "!!null ", "!!binary ", "!!timestamp ", "!foo ", "! ",
    "&a ", "*a", "&b [*b]", "*nowhere", "<<: ", "<<: *a", "? ", "- ", "{", "}", "[", "]", ",", ":",
    ".nan", ".inf", "-.inf", "0x_", "0o9", "08", "1e3", "1e400", "''", '""', "~", "null", "yes", "y",
    "99999999999999999999", "-1", "0", "1.5", "\x00", "\x01", "\x1b[31m", "\t", "\n", "  ", "#",
    "---\n", "...\n", "%YAML 1.1\n", "\ufeff", "\\", "'", '"', "|", ">", "@", "`", "%", "\u2028",
    "é", "💥", "\ud800",
]  # fmt: skip


@st.composite
def mutated_texts(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.integers(0, 3))
        pos = draw(st.integers(0, len(text)))
        if op == 0:
            text = text[:pos] + draw(st.sampled_from(TOKENS)) + text[pos:]
        elif op == 1:
            text = text[:pos] + draw(st.text(max_size=8)) + text[pos:]
        elif op == 2:
            lines = text.split("\n")
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            lines.insert(i, lines[j])
            text = "\n".join(lines)
        else:
            lines = text.split("\n")
            del lines[draw(st.integers(0, len(lines) - 1))]
            text = "\n".join(lines)
    return text


texts = st.one_of(mutated_texts(), st.text(max_size=200))

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["80", "http", "TCP", "10%", "-5%", "1e3", "0x1F", "Always", "", "a" * 300]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*path, i))
    return out


@st.composite
def mutated_objects(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A few realistic objects, each with some values replaced by arbitrary ones (or removed)."""
    docs = [copy.deepcopy(d) for d in draw(st.lists(st.sampled_from(DOCS), min_size=1, max_size=3))]
    for doc in docs:
        for _ in range(draw(st.integers(0, 5))):
            path = draw(st.sampled_from(_paths(doc)[1:] or [("spec",)]))
            holder: Any = doc
            for seg in path[:-1]:
                holder = holder[seg]
            if draw(st.booleans()) and isinstance(holder, dict):
                holder.pop(path[-1], None)
            else:
                holder[path[-1]] = draw(json_values)
    return docs


def dump(docs: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(docs, allow_unicode=True)
