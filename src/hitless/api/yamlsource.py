"""YAML text to JSON-like documents, with the line of every field.

kubectl reads a manifest stream by cutting it at ``---`` lines (apimachinery's ``YAMLReader``) and
converting each document to JSON with go-yaml (``sigs.k8s.io/yaml``, apimachinery's
``YAMLToJSONDecoder``). This module does the same with PyYAML's composer (the C one when
available; both are libyaml): each document is composed into nodes, and one walk over the nodes
builds both the value and the map from field path to line. Cutting first means that a syntax
error in one document does not hide the others.

Scalars follow go-yaml v2 (YAML 1.1), which is what kubectl uses: ``yes``/``on``/``y`` are bools,
``0755`` is octal. Timestamps stay strings, since JSON has none.

kubectl converts with go-yaml's non-strict ``Unmarshal``: a key written twice in one mapping is
no error, the last value wins, and the JSON sent to the API server holds only that one (so
server-side strict field validation never sees the duplicate either; kubernetes/kubernetes
issues 99286 and 125885). hitless does the same and reports each duplicate as a warning, since
the dropped value is almost never what the author meant. Merge keys (``<<``) likewise apply where
they are written, as go-yaml v2 applies them.

Syntax errors carry go-yaml's ``yaml: line N:``, counted from the start of the document kubectl
cut (not of the file), while ``YamlProblem.line`` is the line in the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
import yaml.composer
import yaml.reader
import yaml.scanner
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from hitless.api.fieldpath import Segment

try:
    _Loader: type[Any] = yaml.CSafeLoader
except AttributeError:  # PyYAML built without libyaml
    _Loader = yaml.SafeLoader

_TAG = "tag:yaml.org,2002:"
_STR = _TAG + "str"
_MERGE = _TAG + "merge"
_SCALARS = SafeConstructor()
# go-yaml v2 also reads these plain scalars as bools; PyYAML does not.
_GO_BOOLS = {"y": True, "Y": True, "n": False, "N": False}
# sigs.k8s.io/yaml's prefix for every YAML error.
_TO_JSON = "error converting YAML to JSON: "

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
            nodes = list(yaml.compose_all(chunk, Loader=_Loader))
        except yaml.MarkedYAMLError as e:
            result.problems.append(_syntax_problem(e, start, chunk))
            continue
        except yaml.YAMLError as e:
            if isinstance(e, yaml.reader.ReaderError):
                e.position += start  # one character per line above the chunk, as messages always counted
            result.problems.append(YamlProblem(start + 1, f"{_TO_JSON}yaml: {e}"))
            continue
        for node in nodes:
            doc = Document(line=start + node.start_mark.line + 1, value=None)
            doc.value = _Builder(doc.lines, result.warnings, start).build(node, ())
            if doc.value is not None:
                result.documents.append(doc)
    result.problems.sort(key=lambda p: p.line)
    result.warnings.sort(key=lambda p: p.line)
    return result


def _syntax_problem(e: yaml.MarkedYAMLError, start: int, chunk: str) -> YamlProblem:
    """go-yaml's ``parser.fail()``: its line counts from the document kubectl cut, and it is the
    scanner's 1-based line but the parser's 0-based one (go-yaml's own quirk, kept by kubectl)."""
    problem = e.problem_mark.line if e.problem_mark is not None else 0
    context = e.context_mark.line if e.context_mark is not None else 0
    if isinstance(e, yaml.composer.ComposerError) and e.problem == "found undefined alias":
        alias = _alias(chunk, problem, e.problem_mark.column if e.problem_mark else 0)
        return YamlProblem(start + problem + 1, f"{_TO_JSON}yaml: unknown anchor '{alias}' referenced")
    line = 0
    if problem:
        line = problem + 1 if isinstance(e, yaml.scanner.ScannerError) else problem
    elif context:
        line = context
    where = f"line {line}: " if line else ""
    detail = e.problem or "unknown problem parsing YAML content"
    return YamlProblem(start + problem + 1, f"{_TO_JSON}yaml: {where}{detail}")


def _alias(chunk: str, line: int, column: int) -> str:
    """The name in ``*name`` where the composer stopped (libyaml's message does not carry it)."""
    lines = chunk.splitlines()
    text = lines[line][column:] if 0 <= line < len(lines) else ""
    match = re.match(r"\*([^\s,\[\]{}]+)", text)
    return match.group(1) if match else ""


class _Builder:
    """One walk over a document's nodes: the JSON-like value, and the line of every field in it.

    ``offset`` is the line in the file where the parsed chunk starts."""

    def __init__(self, lines: dict[SegPath, int], warnings: list[YamlProblem], offset: int) -> None:
        self.lines = lines
        self.warnings = warnings
        self.offset = offset + 1  # marks are 0-based

    def build(self, node: Node, path: SegPath) -> Any:
        # Dispatch on the exact class: the composer makes no subclasses, and this is the hot loop.
        if type(node) is ScalarNode:
            return _scalar(node)
        if type(node) is MappingNode:
            return self._mapping(node, path)
        assert type(node) is SequenceNode
        items = []
        lines, offset = self.lines, self.offset
        for i, item in enumerate(node.value):
            item_path = (*path, i)
            lines[item_path] = item.start_mark.line + offset
            items.append(_scalar(item) if type(item) is ScalarNode else self.build(item, item_path))
        return items

    def _mapping(self, node: MappingNode, path: SegPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        written: dict[str, str] = {}  # keys written in this mapping itself, as shown in warnings
        lines, offset = self.lines, self.offset
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + offset
            if key_node.tag == _MERGE:
                self._merge(value_node, path, result, written, line)
                continue
            if type(key_node) is ScalarNode:
                raw_key = _scalar(key_node)
            else:
                raw_key = _Builder({}, [], 0).build(key_node, ())
            key = raw_key if type(raw_key) is str else _json_key(raw_key)
            if key in written:
                first = self.lines[(*path, key)]
                message = f"key {written[key]} is already set at line {first}; kubectl keeps only this value"
                self.warnings.append(YamlProblem(line, message))
            if key in result:
                self._forget((*path, key))
            written[key] = f'"{raw_key}"' if isinstance(raw_key, str) else str(raw_key)
            key_path = (*path, key)
            lines[key_path] = line
            result[key] = (
                _scalar(value_node) if type(value_node) is ScalarNode else self.build(value_node, key_path)
            )
        return result

    def _merge(
        self, value_node: Node, path: SegPath, result: dict[str, Any], written: dict[str, str], line: int
    ) -> None:
        """``<<: *base`` as go-yaml v2 does it: in place, where it is written, so a merged key
        replaces one written before the ``<<`` (YAML 1.1 says it should not), and of several merged
        mappings the first wins."""
        sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
        for source in reversed(sources):
            lines: dict[SegPath, int] = {}
            built = _Builder(lines, self.warnings, self.offset - 1).build(source, path)
            if not isinstance(built, dict):
                continue
            for key, value in built.items():
                if key in written:
                    shown = written.pop(key)
                    message = (
                        f"the merge key replaces key {shown} set above it; kubectl keeps the merged value"
                    )
                    self.warnings.append(YamlProblem(line, message))
                if key in result:
                    self._forget((*path, key))
                result[key] = value
            self.lines.update(lines)

    def _forget(self, prefix: SegPath) -> None:
        """Drop the lines of a value that a later duplicate key replaces."""
        for p in [p for p in self.lines if p[: len(prefix)] == prefix]:
            del self.lines[p]


def _json_key(key: Any) -> str:
    # sigs.k8s.io/yaml turns non-string keys into their text, as JSON needs string keys.
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return str(key)


def _scalar(node: ScalarNode) -> Any:
    tag = node.tag
    if tag == _STR:
        value = node.value
        if value in _GO_BOOLS and not node.style:
            return _GO_BOOLS[value]
        return value
    tag = tag.removeprefix(_TAG)
    if tag == "null":
        return None
    if tag == "bool":
        return _SCALARS.construct_yaml_bool(node)
    if tag == "int":
        if ":" in node.value:  # YAML 1.1 sexagesimal; go-yaml keeps it a string
            return node.value
        return _SCALARS.construct_yaml_int(node)
    if tag == "float":
        if ":" in node.value:
            return node.value
        return _SCALARS.construct_yaml_float(node)
    return node.value


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
