"""YAML text to JSON-like documents, with the line of every field.

kubectl reads a manifest stream by cutting it at ``---`` lines (apimachinery's ``YAMLReader``) and
converting each document to JSON with go-yaml (``sigs.k8s.io/yaml``, apimachinery's
``YAMLToJSONDecoder``). This module does the same with PyYAML's composer (the C one when
available; both are libyaml): each document is composed into nodes, and one walk over the nodes
builds both the value and the map from field path to line. Cutting first means that a syntax
error in one document does not hide the others.

Scalars follow go-yaml v2 (YAML 1.1), which is what kubectl uses (``goyaml.py``): ``yes``/``on``/``y``
are bools, ``0755`` is octal, ``1e3`` is a number. Timestamps stay strings, since JSON has none.
PyYAML composes nodes only; its own tag resolution is switched off (``_GoResolver``).

kubectl converts with go-yaml's non-strict ``Unmarshal``: a key written twice in one mapping is
no error, the last value wins, and the JSON sent to the API server holds only that one (so
server-side strict field validation never sees the duplicate either; kubernetes/kubernetes
issues 99286 and 125885). hitless does the same and reports each duplicate as a warning, since
the dropped value is almost never what the author meant. Merge keys (``<<``) likewise apply where
they are written, as go-yaml v2 applies them: sigs.k8s.io/yaml accepts them, so kubectl and the
API server do; a merge of anything but a mapping (or a sequence of mappings) is go-yaml's error.

Aliases are where YAML turns hostile (a "billion laughs" document expands exponentially). go-yaml
v2 bounds them in ``decoder.unmarshal`` (decode.go): past 100 aliased decodes and 1,000 decodes in
all, a document whose share of decodes made through aliases exceeds ``allowedAliasRatio`` (99% up
to 400,000 decodes, falling to 10% at 4,000,000) fails with ``document contains excessive
aliasing``, and an alias inside its own anchor with ``anchor 'a' value contains itself``. A
document with an alias is built by ``_AliasBuilder``, which counts exactly as that decoder does, so
hitless refuses the same documents, at the same point: a bomb fails after about 10,000 decodes.
Field lines are kept to a depth of ``LINE_DEPTH``; deeper fields report their ancestor's line, so
that a deeply nested document cannot make the line map quadratic.

Syntax errors carry go-yaml's ``yaml: line N:``, counted from the start of the document kubectl
cut (not of the file), while ``YamlProblem.line`` is the line in the file.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass, field
from typing import Any

import yaml
import yaml.composer
import yaml.reader
import yaml.scanner
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from hitless.api import goyaml
from hitless.api.fieldpath import Segment
from hitless.api.goyaml import GoYamlError, resolve_plain, resolve_tagged

try:
    from yaml._yaml import CParser as _Parser  # libyaml
except ImportError:  # PyYAML built without libyaml
    from yaml.composer import Composer
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, Parser, Composer):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)
            Composer.__init__(self)


# A plain scalar's tag: resolved later, by go-yaml's rules (a tag no YAML text can spell).
_PLAIN = "tag:hitless,2026:plain"
_STR = goyaml.STR
_MERGE = goyaml.MERGE
_HINT_CHARS = frozenset("+-0123456789yYnNtTfFoO~.<")
# sigs.k8s.io/yaml's prefix for every YAML error.
_TO_JSON = "error converting YAML to JSON: "
_NONFINITE = re.compile(r"\.(?:nan|NaN|NAN|inf|Inf|INF)")
# Fields deeper than this report the line of their ancestor at this depth (Kubernetes objects
# are a few dozen levels deep at most).
LINE_DEPTH = 64
# The builders recurse once per nesting level and libyaml allows 1,000 levels.
if sys.getrecursionlimit() < 10_000:
    sys.setrecursionlimit(10_000)


class _GoResolver:
    """No implicit resolution: a plain scalar keeps ``_PLAIN``, a quoted one is a string."""

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass

    def resolve(self, kind: type[Node], value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode:
            return _PLAIN if implicit[0] else _STR
        return goyaml.TAG + ("seq" if kind is SequenceNode else "map")


class _Loader(_Parser, _GoResolver):
    pass


SegPath = tuple[Segment, ...]


@dataclass
class Document:
    """One YAML document: its value and the 1-based line of every field path in it."""

    line: int
    value: Any
    lines: dict[SegPath, int] = field(default_factory=dict)


@dataclass(frozen=True)
class YamlProblem:
    line: int
    message: str


@dataclass
class ParsedStream:
    documents: list[Document] = field(default_factory=list)
    problems: list[YamlProblem] = field(default_factory=list)  # what kubectl rejects
    warnings: list[YamlProblem] = field(default_factory=list)  # what kubectl silently accepts


class _Failure(Exception):
    """The document fails to convert, as go-yaml's ``failf`` fails it (``line``: 0-based, in the chunk)."""

    def __init__(self, line: int, message: str, in_file: bool = False) -> None:
        super().__init__(message)
        self.line = line
        self.message = message
        self.in_file = in_file  # ``line`` is already the file's 1-based line


def split_documents(text: str) -> tuple[list[tuple[int, str]], list[YamlProblem]]:
    """Cut a stream at ``---`` lines as apimachinery's ``YAMLReader`` does.

    Returns ``(first line index, text)`` chunks. A separator followed by anything but a comment is
    an error there too (``invalid Yaml document separator``).
    """
    chunks: list[tuple[int, str]] = []
    problems: list[YamlProblem] = []
    start, buf = 0, list[str]()
    for i, line in enumerate(text.splitlines(keepends=True)):
        if line.startswith("---"):
            rest = line[3:].strip()
            if rest and not rest.startswith("#"):
                problems.append(YamlProblem(i + 1, f"invalid Yaml document separator: {rest}"))
            if buf:
                chunks.append((start, "".join(buf)))
            start, buf = i + 1, []
            continue
        buf.append(line)
    if buf:
        chunks.append((start, "".join(buf)))
    return chunks, problems


def parse_stream(text: str) -> ParsedStream:
    """All non-empty documents of a stream, and every problem found, in stream order."""
    text = text.removeprefix("\ufeff")
    chunks, problems = split_documents(text)
    result = ParsedStream(problems=problems)
    for start, chunk in chunks:
        # The parser's marks count from the chunk; ``start`` makes them lines of the file.
        try:
            nodes = list(yaml.compose_all(chunk, Loader=_Loader))  # type: ignore[arg-type]
        except yaml.MarkedYAMLError as e:
            result.problems.append(_syntax_problem(e, start, chunk))
            continue
        except UnicodeEncodeError as e:
            # A lone surrogate (only load_text's callers can pass one: bytes read from a file or
            # stdin are strict UTF-8): go-yaml's reader refuses the code point it would decode to.
            line = start + chunk.count("\n", 0, e.start) + 1
            result.problems.append(YamlProblem(line, f"{_TO_JSON}yaml: invalid Unicode character"))
            continue
        except yaml.YAMLError as e:
            if isinstance(e, yaml.reader.ReaderError):
                e.position += start  # one character per line above the chunk, as messages always counted
            result.problems.append(YamlProblem(start + 1, f"{_TO_JSON}yaml: {e}"))
            continue
        # Only a document with an alias can expand; the others take the fast path.
        builder_type = _AliasBuilder if "*" in chunk else _Builder
        nonfinite = _NONFINITE.search(chunk) is not None
        for node in nodes:
            doc = Document(line=start + node.start_mark.line + 1, value=None)
            warnings: list[YamlProblem] = []
            builder = builder_type(doc.lines, warnings, start, chunk)
            try:
                doc.value = builder.build(node, ())
                if builder.pending is not None:
                    raise builder.pending
                if nonfinite:
                    # Lines in doc.lines are the file's; _Failure wants the chunk's, 0-based.
                    _check_finite(doc.value, doc.lines, doc.line)
            except _Failure as f:
                line = f.line - start - 1 if f.in_file else f.line
                result.problems.append(YamlProblem(start + line + 1, _TO_JSON + f.message))
                continue
            result.warnings += warnings
            if doc.value is not None:
                result.documents.append(doc)
    result.problems.sort(key=lambda p: p.line)
    result.warnings.sort(key=lambda p: p.line)
    return result


def _check_finite(value: Any, lines: dict[SegPath, int], line: int) -> None:
    """sigs.k8s.io/yaml marshals the decoded value with encoding/json, which refuses NaN and
    the infinities (``json: unsupported value: NaN``); the whole document fails. Go writes a map
    in sorted key order, so the first such value in that order is the one named."""
    found = _first_nonfinite(value, ())
    if found is not None:
        number, path = found
        text = "NaN" if math.isnan(number) else ("+Inf" if number > 0 else "-Inf")
        for end in range(len(path), 0, -1):
            if path[:end] in lines:
                line = lines[path[:end]]
                break
        raise _Failure(line, f"json: unsupported value: {text}", in_file=True)


def _first_nonfinite(value: Any, path: SegPath) -> tuple[float, SegPath] | None:
    if type(value) is float:
        return None if math.isfinite(value) else (value, path)
    if type(value) is dict:
        children: Any = ((k, value[k]) for k in sorted(value))
    elif type(value) is list:
        children = enumerate(value)
    else:
        return None
    for key, child in children:
        found = _first_nonfinite(child, (*path, key))
        if found is not None:
            return found
    return None


def _syntax_problem(e: yaml.MarkedYAMLError, start: int, chunk: str) -> YamlProblem:
    """go-yaml's ``parser.fail()``: its line counts from the document kubectl cut, and it is the
    scanner's 1-based line but the parser's 0-based one (go-yaml's own quirk, kept by kubectl)."""
    problem = e.problem_mark.line if e.problem_mark is not None else 0
    context = e.context_mark.line if e.context_mark is not None else 0
    if isinstance(e, yaml.composer.ComposerError) and e.problem == "found undefined alias":
        alias = _name_at(chunk, problem, e.problem_mark.column if e.problem_mark else 0, "*")
        return YamlProblem(start + problem + 1, f"{_TO_JSON}yaml: unknown anchor '{alias}' referenced")
    if isinstance(e, yaml.composer.ComposerError) and e.context == "found duplicate anchor; first occurrence":
        # go-yaml lets a later anchor of the same name replace the first; PyYAML's composer (in C)
        # cannot, so hitless refuses what kubectl would accept here, and says so.
        anchor = _name_at(chunk, problem, e.problem_mark.column if e.problem_mark else 0, "&")
        message = (
            f"anchor '{anchor}' is defined again (first at line {start + context + 1}); kubectl would "
            "use the later one, hitless cannot read a redefined anchor: rename one"
        )
        return YamlProblem(start + problem + 1, message)
    line = 0
    if problem:
        line = problem + 1 if isinstance(e, yaml.scanner.ScannerError) else problem
    elif context:
        line = context
    where = f"line {line}: " if line else ""
    detail = e.problem or "unknown problem parsing YAML content"
    return YamlProblem(start + problem + 1, f"{_TO_JSON}yaml: {where}{detail}")


def _name_at(chunk: str, line: int, column: int, sigil: str) -> str:
    """The name in ``*name`` or ``&name`` where the composer stopped (libyaml's message does not
    carry it)."""
    lines = chunk.splitlines()
    text = lines[line][column:] if 0 <= line < len(lines) else ""
    match = re.search(re.escape(sigil) + r"([^\s,\[\]{}]+)", text)
    return match.group(1) if match else ""


def _scalar(node: ScalarNode) -> Any:
    tag = node.tag
    value = node.value
    if tag == _PLAIN:
        if value and value[0] not in _HINT_CHARS:
            return value
        return resolve_plain(value)
    if tag == _STR:
        return value
    try:
        return resolve_tagged(tag, value)
    except GoYamlError as e:
        raise _Failure(node.start_mark.line, f"yaml: {e}") from None


def _is_merge(node: Node) -> bool:
    """go-yaml's ``isMerge``: a plain ``<<``, or ``!!merge <<``."""
    return type(node) is ScalarNode and node.value == "<<" and node.tag in (_PLAIN, _MERGE)


class _Builder:
    """One walk over a document's nodes: the JSON-like value, and the line of every field in it.

    ``offset`` is the line in the file where the parsed chunk starts. A path of ``None`` builds
    the value alone (below ``LINE_DEPTH``)."""

    fast = True  # scalars straight from the loops; _AliasBuilder counts every node instead

    def __init__(
        self, lines: dict[SegPath, int], warnings: list[YamlProblem], offset: int, chunk: str
    ) -> None:
        self.lines = lines
        self.warnings = warnings
        self.offset = offset + 1  # marks are 0-based
        self.chunk = chunk
        self.pending: _Failure | None = None  # a conversion error: go-yaml's own come first

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
            raise _Failure(key_node.start_mark.line, f"yaml: {e}") from None

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
                    self.pending = _Failure(
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
            raise _Failure(
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


class _AliasBuilder(_Builder):
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
                anchor = _name_at(self.chunk, node.start_mark.line, node.start_mark.column, "&")
                raise _Failure(node.start_mark.line, f"yaml: anchor '{anchor}' value contains itself")
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
                raise _Failure(node.start_mark.line, "yaml: document contains excessive aliasing")
        try:
            if type(node) is ScalarNode:
                return _scalar(node)
            self.active.add(key)
            try:
                return _Builder.build(self, node, path)
            finally:
                self.active.discard(key)
        finally:
            if alias:
                self.depth -= 1


def json_normalize(value: Any) -> Any:
    """The value after the YAML-to-JSON round trip: integral floats become integers.

    sigs.k8s.io/yaml writes ``10.0`` as the JSON number ``10``, which then decodes into an int32
    field without complaint.
    """
    if isinstance(value, dict):
        return {k: json_normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_normalize(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    return value
