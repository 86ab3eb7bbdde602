"""Composed YAML nodes to JSON-like values, as go-yaml v2's decoder turns them into ``interface{}``.

One walk over a document's nodes builds both the value and the line of every field path. Scalars
are resolved by go-yaml's rules (``goyaml.py``); merge keys apply in place, as go-yaml v2 applies
them; a key written twice keeps its last value, with a warning.

Aliases are where YAML turns hostile (a "billion laughs" document expands exponentially). go-yaml
v2 bounds them in ``decoder.unmarshal`` (decode.go): past 100 aliased decodes and 1,000 decodes in
all, a document whose share of decodes made through aliases exceeds ``allowedAliasRatio`` (99% up
to 400,000 decodes, falling to 10% at 4,000,000) fails with ``document contains excessive
aliasing``, and an alias inside its own anchor with ``anchor 'a' value contains itself``. A
document with an alias is built by ``AliasBuilder``, which counts exactly as that decoder does, so
hitless refuses the same documents, at the same point: a bomb fails after about 10,000 decodes.
Field lines are kept to a depth of ``LINE_DEPTH``; deeper fields report their ancestor's line, so
that a deeply nested document cannot make the line map quadratic.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from hitless.api import goyaml
from hitless.api.fieldpath import Segment
from hitless.api.goyaml import GoYamlError, resolve_plain, resolve_tagged

SegPath = tuple[Segment, ...]

# A plain scalar's tag: resolved later, by go-yaml's rules (a tag no YAML text can spell).
PLAIN = "tag:hitless,2026:plain"
_STR = goyaml.STR
_MERGE = goyaml.MERGE
_HINT_CHARS = frozenset("+-0123456789yYnNtTfFoO~.<")
# Fields deeper than this report the line of their ancestor at this depth (Kubernetes objects
# are a few dozen levels deep at most).
LINE_DEPTH = 64
# The builders recurse once per nesting level and libyaml allows 1,000 levels.
if sys.getrecursionlimit() < 10_000:
    sys.setrecursionlimit(10_000)


@dataclass(frozen=True)
class YamlProblem:
    line: int
    message: str


class Failure(Exception):
    """The document fails to convert, as go-yaml's ``failf`` fails it (``line``: 0-based, in the chunk)."""

    def __init__(self, line: int, message: str, in_file: bool = False) -> None:
        super().__init__(message)
        self.line = line
        self.message = message
        self.in_file = in_file  # ``line`` is already the file's 1-based line


def name_at(chunk: str, line: int, column: int, sigil: str) -> str:
    """The name in ``*name`` or ``&name`` where the composer stopped (libyaml's message does not
    carry it)."""
    lines = chunk.splitlines()
    text = lines[line][column:] if 0 <= line < len(lines) else ""
    match = re.search(re.escape(sigil) + r"([^\s,\[\]{}]+)", text)
    return match.group(1) if match else ""


def _scalar(node: ScalarNode) -> Any:
    tag = node.tag
    value = node.value
    if tag == PLAIN:
        if value and value[0] not in _HINT_CHARS:
            return value
        return resolve_plain(value)
    if tag == _STR:
        return value
    try:
        return resolve_tagged(tag, value)
    except GoYamlError as e:
        raise Failure(node.start_mark.line, f"yaml: {e}") from None


def _is_merge(node: Node) -> bool:
    """go-yaml's ``isMerge``: a plain ``<<``, or ``!!merge <<``."""
    return type(node) is ScalarNode and node.value == "<<" and node.tag in (PLAIN, _MERGE)


class Builder:
    """One walk over a document's nodes: the JSON-like value, and the line of every field in it.

    ``offset`` is the line in the file where the parsed chunk starts. A path of ``None`` builds
    the value alone (below ``LINE_DEPTH``)."""

    fast = True  # scalars straight from the loops; AliasBuilder counts every node instead

    def __init__(
        self, lines: dict[SegPath, int], warnings: list[YamlProblem], offset: int, chunk: str
    ) -> None:
        self.lines = lines
        self.warnings = warnings
        self.offset = offset + 1  # marks are 0-based
        self.chunk = chunk
        self.pending: Failure | None = None  # a conversion error: go-yaml's own come first

    def build(self, node: Node, path: SegPath | None) -> Any:
        # Dispatch on the exact class: the composer makes no subclasses, and this is the hot loop.
        if type(node) is ScalarNode:
            return _scalar(node)
        if path is not None and len(path) >= LINE_DEPTH:
            path = None
        if type(node) is MappingNode:
            return self._mapping(node, path)
        assert type(node) is SequenceNode
        items = []
        fast = self.fast
        if path is None:
            for item in node.value:
                items.append(_scalar(item) if fast and type(item) is ScalarNode else self.build(item, None))
            return items
        lines, offset = self.lines, self.offset
        for i, item in enumerate(node.value):
            item_path = (*path, i)
            lines[item_path] = item.start_mark.line + offset
            items.append(_scalar(item) if fast and type(item) is ScalarNode else self.build(item, item_path))
        return items

    def _key(self, key_node: Node) -> tuple[str, str]:
        """The JSON key, and the key as warnings show it."""
        raw = _scalar(key_node) if type(key_node) is ScalarNode and self.fast else self.build(key_node, None)
        if type(raw) is str:
            return raw, f'"{raw}"'
        try:
            return goyaml.json_key(raw), str(raw)
        except GoYamlError as e:
            if raw is None:
                return "", ""  # the caller records it: the message shows the value
            raise Failure(key_node.start_mark.line, f"yaml: {e}") from None

    def _mapping(self, node: MappingNode, path: SegPath | None) -> dict[str, Any]:
        result: dict[str, Any] = {}
        written: dict[str, str] = {}  # keys written in this mapping itself, as shown in warnings
        lines, offset, fast = self.lines, self.offset, self.fast
        for key_node, value_node in node.value:
            if _is_merge(key_node):
                self._merge(value_node, path, result, written, key_node.start_mark.line + offset)
                continue
            key, shown = self._key(key_node)
            if not shown:
                value = self.build(value_node, None)
                if self.pending is None:
                    self.pending = Failure(
                        key_node.start_mark.line,
                        "Unsupported map key of type: %!s(<nil>), key: <nil>, value: "
                        + goyaml.go_repr(value),
                    )
                continue
            if path is None:
                result[key] = (
                    _scalar(value_node)
                    if fast and type(value_node) is ScalarNode
                    else self.build(value_node, None)
                )
                continue
            line = key_node.start_mark.line + offset
            if key in written:
                first = lines[(*path, key)]
                message = f"key {written[key]} is already set at line {first}; kubectl keeps only this value"
                self.warnings.append(YamlProblem(line, message))
            if key in result:
                self._forget((*path, key), result[key])
            written[key] = shown
            key_path = (*path, key)
            lines[key_path] = line
            result[key] = (
                _scalar(value_node)
                if fast and type(value_node) is ScalarNode
                else self.build(value_node, key_path)
            )
        return result

    def _merge(
        self,
        value_node: Node,
        path: SegPath | None,
        result: dict[str, Any],
        written: dict[str, str],
        line: int,
    ) -> None:
        """``<<: *base`` as go-yaml v2 does it: in place, where it is written, so a merged key
        replaces one written before the ``<<`` (YAML 1.1 says it should not), and of several merged
        mappings the first wins."""
        sources = list(value_node.value) if type(value_node) is SequenceNode else [value_node]
        if not all(type(s) is MappingNode for s in sources):
            raise Failure(
                value_node.start_mark.line, "yaml: map merge requires map or sequence of maps as the value"
            )
        for source in reversed(sources):
            outer = self.lines
            self.lines = {}
            try:
                built = self.build(source, path)
            finally:
                lines, self.lines = self.lines, outer
            for key, value in built.items():
                if key in written:
                    shown = written.pop(key)
                    message = (
                        f"the merge key replaces key {shown} set above it; kubectl keeps the merged value"
                    )
                    self.warnings.append(YamlProblem(line, message))
                if key in result and path is not None:
                    self._forget((*path, key), result[key])
                result[key] = value
            self.lines.update(lines)

    def _forget(self, prefix: SegPath, old: Any) -> None:
        """Drop the lines of a value that a later duplicate key replaces: a walk over that value
        only, so that many duplicates cost no more than the values they replace."""
        lines = self.lines
        lines.pop(prefix, None)
        stack = [(prefix, old)]
        while stack:
            at, value = stack.pop()
            if type(value) is dict:
                children: Any = value.items()
            elif type(value) is list:
                children = enumerate(value)
            else:
                continue
            for key, child in children:
                child_path = (*at, key)
                lines.pop(child_path, None)
                stack.append((child_path, child))


# go-yaml v2's decode.go: alias_ratio_range_low and alias_ratio_range_high.
_RATIO_LOW = 400_000
_RATIO_HIGH = 4_000_000


def allowed_alias_ratio(decodes: int) -> float:
    """``allowedAliasRatio``: 99% of decodes may come from aliases up to 400,000 decodes, then
    the share falls linearly to 10% at 4,000,000."""
    if decodes <= _RATIO_LOW:
        return 0.99
    if decodes >= _RATIO_HIGH:
        return 0.10
    return 0.99 - 0.89 * ((decodes - _RATIO_LOW) / (_RATIO_HIGH - _RATIO_LOW))


class AliasBuilder(Builder):
    """The builder for documents with aliases: counts every node as go-yaml's ``unmarshal`` does.

    PyYAML's composer makes an alias the very node its anchor names, so the second visit of a node
    is an alias: go-yaml decodes the alias node (one decode), then its target with ``aliasDepth``
    raised (every decode below it is an aliased one)."""

    fast = False

    def __init__(
        self, lines: dict[SegPath, int], warnings: list[YamlProblem], offset: int, chunk: str
    ) -> None:
        super().__init__(lines, warnings, offset, chunk)
        self.decodes = 0
        self.aliased = 0
        self.depth = 0
        self.seen: set[int] = set()
        self.active: set[int] = set()  # collections being built: one met again is its own alias

    def build(self, node: Node, path: SegPath | None) -> Any:
        # One function for the hot path: this runs once per node of the expanded document.
        key = id(node)
        alias = key in self.seen
        if alias:
            if key in self.active:
                anchor = name_at(self.chunk, node.start_mark.line, node.start_mark.column, "&")
                raise Failure(node.start_mark.line, f"yaml: anchor '{anchor}' value contains itself")
            # The alias node (aliased itself only inside another alias), then its target.
            self.decodes += 2
            self.aliased += 2 if self.depth else 1
            self.depth += 1
        else:
            self.seen.add(key)
            self.decodes += 1
            if self.depth:
                self.aliased += 1
        # Within an alias the condition only grows more true, so one check per node is exact.
        if self.depth and self.aliased > 100 and self.decodes > 1000:
            decodes = self.decodes
            if self.aliased > decodes * (0.99 if decodes <= _RATIO_LOW else allowed_alias_ratio(decodes)):
                raise Failure(node.start_mark.line, "yaml: document contains excessive aliasing")
        try:
            if type(node) is ScalarNode:
                return _scalar(node)
            self.active.add(key)
            try:
                return Builder.build(self, node, path)
            finally:
                self.active.discard(key)
        finally:
            if alias:
                self.depth -= 1
