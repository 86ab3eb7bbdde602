"""YAML text to JSON-like documents, with the line of every field.

kubectl reads a manifest stream by cutting it at ``---`` lines (apimachinery's ``YAMLReader``) and
converting each document to JSON with go-yaml (``sigs.k8s.io/yaml``, apimachinery's
``YAMLToJSONDecoder``). This module does the same with PyYAML's composer (the C one when
available; both are libyaml): each document is composed into nodes, and one walk over the nodes
builds both the value and the map from field path to line (``yamlbuild.py``). Cutting first means
that a syntax error in one document does not hide the others.

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

The walk over the nodes, and the alias budget that bounds it as go-yaml's decoder bounds a
"billion laughs", are ``yamlbuild.py``'s. A value encoding/json cannot write (``.nan``, ``.inf``)
fails the document here, after the walk, as sigs.k8s.io/yaml's ``json.Marshal`` fails it.

Syntax errors carry go-yaml's ``yaml: line N:``, counted from the start of the document kubectl
cut (not of the file), while ``YamlProblem.line`` is the line in the file.
"""

from __future__ import annotations

import gc
import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
import yaml.composer
import yaml.reader
import yaml.scanner
from yaml.nodes import Node, ScalarNode, SequenceNode

from hitless.api import goyaml
from hitless.api.yamlbuild import (
    PLAIN,
    AliasBuilder,
    Builder,
    Failure,
    SegPath,
    YamlProblem,
    name_at,
)

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


__all__ = [
    "Document",
    "ParsedStream",
    "SegPath",
    "YamlProblem",
    "json_normalize",
    "parse_stream",
    "split_documents",
]

_STR = goyaml.STR
# sigs.k8s.io/yaml's prefix for every YAML error.
_TO_JSON = "error converting YAML to JSON: "
_NONFINITE = re.compile(r"\.(?:nan|NaN|NAN|inf|Inf|INF)")


class _GoResolver:
    """No implicit resolution: a plain scalar keeps ``PLAIN``, a quoted one is a string."""

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass

    def resolve(self, kind: type[Node], value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode:
            return PLAIN if implicit[0] else _STR
        return goyaml.TAG + ("seq" if kind is SequenceNode else "map")


class _Loader(_Parser, _GoResolver):
    pass


@dataclass
class Document:
    """One YAML document: its value and the 1-based line of every field path in it."""

    line: int
    value: Any
    lines: dict[SegPath, int] = field(default_factory=dict)


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
    # The nodes and values made here hold no reference cycles (a recursive anchor's nodes are
    # refused and left to a later collection), so the cyclic collector has nothing to find; run
    # during a big parse, its passes over an ever larger heap make the parse superlinear
    # (20,000 containers in one Pod: 0.36 s with it, 0.18 s without; 40,000: 1.1 s and 0.37 s).
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _parse_stream(text)
    finally:
        if enabled:
            gc.enable()


def _parse_stream(text: str) -> ParsedStream:
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
        builder_type = AliasBuilder if "*" in chunk else Builder
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
            except Failure as f:
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
        raise Failure(line, f"json: unsupported value: {text}", in_file=True)


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
        alias = name_at(chunk, problem, e.problem_mark.column if e.problem_mark else 0, "*")
        return YamlProblem(start + problem + 1, f"{_TO_JSON}yaml: unknown anchor '{alias}' referenced")
    if isinstance(e, yaml.composer.ComposerError) and e.context == "found duplicate anchor; first occurrence":
        # go-yaml lets a later anchor of the same name replace the first; PyYAML's composer (in C)
        # cannot, so hitless refuses what kubectl would accept here, and says so.
        anchor = name_at(chunk, problem, e.problem_mark.column if e.problem_mark else 0, "&")
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
