"""YAML text to JSON-like documents, with the line of every field.

kubectl reads a manifest stream by cutting it at ``---`` lines (apimachinery's ``YAMLReader``) and
converting each document to JSON with go-yaml. This module does the same with PyYAML's composer
(the C one when available): each document is composed into nodes, and one walk over the nodes
builds both the value and the map from field path to line. Cutting first means that a syntax
error in one document does not hide the others.

Scalars follow go-yaml v2 (YAML 1.1), which is what kubectl uses: ``yes``/``on``/``y`` are bools,
``0755`` is octal. Timestamps stay strings, since JSON has none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from hitless.api.fieldpath import Segment

try:
    _Loader: type[Any] = yaml.CSafeLoader
except AttributeError:  # PyYAML built without libyaml
    _Loader = yaml.SafeLoader

_TAG = "tag:yaml.org,2002:"
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


class _DuplicateKey(Exception):
    def __init__(self, line: int, key: Any) -> None:
        self.line = line
        self.key = key


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


def parse_stream(text: str) -> tuple[list[Document], list[YamlProblem]]:
    """All non-empty documents of a stream, and every problem found, in stream order."""
    text = text.removeprefix("\ufeff")
    chunks, problems = split_documents(text)
    documents: list[Document] = []
    for start, chunk in chunks:
        # Padding with newlines makes the parser's marks absolute line numbers in the file.
        try:
            nodes = list(yaml.compose_all("\n" * start + chunk, Loader=_Loader))
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            line = mark.line + 1 if mark is not None else start + 1
            problems.append(YamlProblem(line, f"{_TO_JSON}yaml: line {line}: {e.problem or e.context}"))
            continue
        except yaml.YAMLError as e:
            problems.append(YamlProblem(start + 1, f"{_TO_JSON}yaml: {e}"))
            continue
        for node in nodes:
            doc = Document(line=node.start_mark.line + 1, value=None)
            try:
                doc.value = _build(node, (), doc.lines)
            except _DuplicateKey as e:
                key = f'"{e.key}"' if isinstance(e.key, str) else str(e.key)
                # go-yaml's strict decoding, as kubectl reports it (one line instead of Go's two).
                message = f"{_TO_JSON}yaml: unmarshal errors: line {e.line}: key {key} already set in map"
                problems.append(YamlProblem(e.line, message))
                continue
            if doc.value is not None:
                documents.append(doc)
    problems.sort(key=lambda p: p.line)
    return documents, problems


def _build(node: Node, path: SegPath, lines: dict[SegPath, int]) -> Any:
    if isinstance(node, MappingNode):
        return _mapping(node, path, lines)
    if isinstance(node, SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            lines[(*path, i)] = item.start_mark.line + 1
            items.append(_build(item, (*path, i), lines))
        return items
    assert isinstance(node, ScalarNode)
    return _scalar(node)


def _mapping(node: MappingNode, path: SegPath, lines: dict[SegPath, int]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    merged: dict[str, Any] = {}
    for key_node, value_node in node.value:
        if key_node.tag == _TAG + "merge":
            # "<<: *base": merged keys never override keys written in the mapping itself.
            sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            for source in sources:
                built = _build(source, path, lines)
                if isinstance(built, dict):
                    for k, v in built.items():
                        merged.setdefault(k, v)
            continue
        raw_key = _build(key_node, path, {})
        key = _json_key(raw_key)
        if key in result:
            raise _DuplicateKey(key_node.start_mark.line + 1, raw_key)
        lines[(*path, key)] = key_node.start_mark.line + 1
        result[key] = _build(value_node, (*path, key), lines)
    for k, v in merged.items():
        result.setdefault(k, v)
    return result


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
    tag = node.tag.removeprefix(_TAG)
    if not node.style and node.value in _GO_BOOLS and tag == "str":
        return _GO_BOOLS[node.value]
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
