"""Load the input, run every rule, drop what annotations suppress, and decide the exit code."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TextIO

from hitless.api import LoadError, LoadResult, SourceMap, load_text
from hitless.api.loader import finish_input
from hitless.api.sources import read_file, read_paths
from hitless.api.yamlsource import parse_stream
from hitless.check.finding import Finding, Severity
from hitless.check.model import Obj, Params, RawDoc, build_context
from hitless.check.registry import all_rules
from hitless.check.rule import Rule
from hitless.check.suppress import suppressed
from hitless.check.traffic import DEFAULT_LB_PRESET, DEFAULT_NODES, DEFAULT_PROPAGATION_DELAY_S, LB_PRESETS

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_UNREADABLE = 2


def default_params() -> Params:
    return Params(DEFAULT_PROPAGATION_DELAY_S, LB_PRESETS[DEFAULT_LB_PRESET], DEFAULT_NODES)


@dataclass
class Report:
    findings: list[Finding]
    rules: tuple[Rule, ...]
    objects: list[Obj]
    params: Params
    unreadable: list[LoadError] = field(default_factory=list)  # files that could not be read at all
    suppressed: int = 0

    @property
    def exit_code(self) -> int:
        if self.unreadable:
            return EXIT_UNREADABLE
        return EXIT_FINDINGS if any(f.severity is Severity.ERROR for f in self.findings) else EXIT_OK

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity is severity)


def run_check(paths: Sequence[str], params: Params | None = None, stdin: TextIO | None = None) -> Report:
    result = LoadResult()
    texts: dict[str, str] = {}
    # Each input is read once (a pipe or a FIFO cannot be read again) and kept for _raw_docs.
    for source in read_paths(paths, stdin):
        if source.text is None:
            assert source.error is not None
            result.errors.append(source.error)
            continue
        texts[source.name] = source.text
        result.extend(load_text(source.text, source.name, finish=False))
    # Custom resources and namespaces are judged over the whole input, as one kubectl apply.
    finish_input(result)
    return check_loaded(result, params or default_params(), texts)


def check_loaded(result: LoadResult, params: Params, texts: dict[str, str] | None = None) -> Report:
    """Run the rules over an already loaded input; ``texts`` holds what was read, by input name."""
    unreadable = [e for e in result.errors if e.category == "file"]
    ctx = build_context(result, _raw_docs(result, texts or {}), params)
    rules = all_rules()
    findings: list[Finding] = []
    hidden = 0
    owners: dict[tuple[str, str | None, str | None, str | None], list[Obj]] = {}
    for obj in ctx.objects:
        owners.setdefault((obj.file, obj.kind, obj.name, obj.namespace), []).append(obj)
    for rule in rules:
        for finding in rule.check(ctx):
            owner = _owner(owners, finding)
            if owner is not None and suppressed(rule, owner.annotations):
                hidden += 1
                continue
            findings.append(finding)
    findings.sort(key=Finding.sort_key)
    return Report(findings, rules, ctx.objects, params, unreadable, hidden)


def _owner(
    owners: dict[tuple[str, str | None, str | None, str | None], list[Obj]], finding: Finding
) -> Obj | None:
    """The object a finding is about: the last one of its file, kind and name starting above it."""
    best = None
    for obj in owners.get((finding.file, finding.kind, finding.name, finding.namespace), []):
        if obj.line <= finding.line:
            best = obj
    return best


def _raw_docs(result: LoadResult, texts: dict[str, str]) -> list[RawDoc]:
    """The documents the loader did not type (invalid objects, kinds hitless does not run), read
    again from their files; only those files are parsed a second time."""
    files = {e.file for e in result.errors if e.object_line}
    docs: list[RawDoc] = []
    for file in sorted(files):
        text = texts.get(file)
        if text is None:
            source = read_file(file)
            if source.text is None:
                continue
            text = source.text
        for doc in parse_stream(text).documents:
            _flatten(doc.value, SourceMap(doc.lines, (), doc.line), file, docs)
    return docs


def _flatten(value: object, source: SourceMap, file: str, out: list[RawDoc]) -> None:
    if not isinstance(value, dict):
        return
    items = value.get("items")
    if str(value.get("kind", "")).endswith("List") and isinstance(items, list):
        for i, item in enumerate(items):
            _flatten(item, source.child("items", i), file, out)
        return
    out.append(RawDoc(file, source.line, value, source))
