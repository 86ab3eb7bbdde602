"""Loading manifests: files or stdin, to typed objects, with every problem and its ``file:line``.

Each object goes through what ``kubectl apply -f`` and the API server would do with it: the
YAML stream is cut into documents, ``List`` kinds are flattened, ``apiVersion`` and ``kind`` are
checked as kubectl checks them, then strict decoding (``schema``), defaulting (``defaults``) and
validation (``validation``). One object's errors never stop the others from being checked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO, TypeVar

import pydantic

from hitless.api import conversion, crd, errors, kinds, schema, validation
from hitless.api.defaults import apply_defaults
from hitless.api.errors import FieldError, LoadError, LoadWarning
from hitless.api.fieldpath import Path, Segment, parse
from hitless.api.sources import read_paths
from hitless.api.types.meta import K8sObject
from hitless.api.yamlsource import SegPath, json_normalize, parse_stream

# The kinds with a typed model (api/kinds.py is the registry of every kind and what is done with it).
SUPPORTED: dict[tuple[str, str], type[K8sObject]] = kinds.typed()
# How the API server names the kind in "... is invalid" (GroupKind.String()); core first, so that
# Event is core/v1's.
QUALIFIED_KIND = {k.kind: k.qualified for k in reversed(kinds.BUILTIN)}
STDIN_NAME = "STDIN"  # as kubectl names it in messages
_MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")

T = TypeVar("T", bound=K8sObject)


@dataclass(frozen=True)
class SourceMap:
    """Lines of the fields of one object; ``prefix`` locates the object inside its document."""

    lines: Mapping[SegPath, int]
    prefix: SegPath
    line: int

    def line_of(self, path: str | Path | Sequence[Segment]) -> int:
        """The line of a field, or of its nearest ancestor written in the file."""
        if isinstance(path, str):
            segments: tuple[Segment, ...] = parse(path)
        elif isinstance(path, Path):
            segments = path.segments
        else:
            segments = tuple(path)
        for end in range(len(segments), 0, -1):
            line = self.lines.get(self.prefix + segments[:end])
            if line is not None:
                return line
        return self.line

    def child(self, *segments: Segment) -> SourceMap:
        full = self.prefix + segments
        return SourceMap(self.lines, full, self.lines.get(full, self.line))


@dataclass(frozen=True)
class LoadedObject:
    """A valid object, typed and defaulted, with where it came from."""

    obj: K8sObject
    file: str
    line: int  # where the object starts
    raw: dict[str, Any]  # the object as written, before defaulting
    source: SourceMap

    def line_of(self, path: str | Path | Sequence[Segment]) -> int:
        return self.source.line_of(path)

    @property
    def kind(self) -> str:
        return self.obj.kind

    @property
    def name(self) -> str:
        return self.obj.name


@dataclass
class LoadResult:
    objects: list[LoadedObject] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)
    warnings: list[LoadWarning] = field(default_factory=list)  # accepted by Kubernetes, yet suspect
    # Objects of kinds no built-in resource serves: custom resources once their CRD is known
    # (``finish``), else errors.
    pending: list[crd.Pending] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def of_type(self, cls: type[T]) -> list[T]:
        return [o.obj for o in self.objects if isinstance(o.obj, cls)]

    def applied(self) -> list[LoadedObject]:
        """What a cluster holds after ``kubectl apply`` of the objects in order: the last object
        written for each (kind, namespace, name), at the position of the first one."""
        last: dict[tuple[str, str, str], LoadedObject] = {}
        for o in self.objects:
            last[o.obj.key] = o
        seen: set[tuple[str, str, str]] = set()
        out = []
        for o in self.objects:
            if o.obj.key not in seen:
                seen.add(o.obj.key)
                out.append(last[o.obj.key])
        return out

    def extend(self, other: LoadResult) -> None:
        self.objects += other.objects
        self.errors += other.errors
        self.warnings += other.warnings
        self.pending += other.pending

    def handling(self, obj: K8sObject) -> kinds.Handling:
        """What hitless does with a loaded object: ``emulated`` or ``stored``."""
        info = kinds.lookup(obj.api_version, obj.kind)
        return info.handling if info is not None else "stored"


def load(
    paths: Sequence[str], stdin: TextIO | None = None, finish: bool = True, namespaces: Sequence[str] = ()
) -> LoadResult:
    """Load manifests from files, directories (their ``.yaml``/``.yml``/``.json`` files) or ``-`` (stdin).

    With ``finish`` (the default) the input is complete: custom resources are resolved against the
    CustomResourceDefinitions in it and namespaces checked (:func:`finish_input`); ``namespaces``
    exist already (a running ``hitless up``'s, when it loads its files again)."""
    result = LoadResult()
    for source in read_paths(paths, stdin):  # never raises: an unreadable input is its error
        if source.text is None:
            assert source.error is not None
            result.errors.append(source.error)
        else:
            result.extend(load_text(source.text, source.name, finish=False))
    if finish:
        finish_input(result, namespaces)
    return result


def load_text(text: str, file: str = STDIN_NAME, finish: bool = True) -> LoadResult:
    """Load a manifest stream already read; ``file`` names it in messages."""
    # Only the kinds hitless acts on: every other kind's schema is compiled when one shows up.
    schema.warm_up([(kind, api_version) for api_version, kind in SUPPORTED])
    result = LoadResult()
    parsed = parse_stream(text)
    for problem in parsed.problems:
        result.errors.append(LoadError(file, problem.line, problem.message, "yaml"))
    result.warnings += [LoadWarning(file, w.line, w.message) for w in parsed.warnings]
    for doc in parsed.documents:
        _ingest(doc.value, SourceMap(doc.lines, (), doc.line), file, result)
    # Stream order; within an object, the order the API server reports in (stable sort).
    result.errors.sort(key=lambda e: e.object_line or e.line)
    if finish:
        finish_input(result)
    return result


def finish_input(result: LoadResult, namespaces: Sequence[str] = ()) -> None:
    """What needs the whole input: custom resources checked against the CustomResourceDefinitions
    in it, and every namespaced object's namespace created before it (``namespaces.py``)."""
    from hitless.api import namespaces as namespace_check

    order = {f: i for i, f in enumerate(dict.fromkeys(e.file for e in result.errors))}
    crd.resolve(result)
    namespace_check.check(result, namespaces)
    if result.errors:
        for o in result.objects:
            order.setdefault(o.file, len(order))
        result.errors.sort(key=lambda e: (order.get(e.file, len(order)), e.object_line or e.line))


def _ingest(value: Any, source: SourceMap, file: str, result: LoadResult) -> None:
    if not isinstance(value, dict):
        message = _kubectl_validation_error(["invalid object to validate"])
        result.errors.append(LoadError(file, source.line, message, "object"))
        return
    api_version, kind, name = value.get("apiVersion"), value.get("kind"), _name(value)
    problems = _kind_problems(api_version, kind)
    if problems:
        message = _kubectl_validation_error(problems)
        str_kind = kind if isinstance(kind, str) and kind else None
        result.errors.append(
            LoadError(file, source.line, message, "object", str_kind, name, object_line=source.line)
        )
        return
    assert isinstance(api_version, str) and isinstance(kind, str)
    items = value.get("items")
    if kind.endswith("List") and isinstance(items, list):
        # kubectl flattens lists client-side; each item is sent, decoded and validated on its own.
        for i, item in enumerate(items):
            _ingest(item, source.child("items", i), file, result)
        return
    info = kinds.lookup(api_version, kind)
    if info is None:
        # A custom resource, or a kind or version no cluster serves: known once the whole input,
        # with its CustomResourceDefinitions, has been read.
        result.pending.append(crd.Pending(value, api_version, kind, name or "", source, file))
        return
    if info.handling == "refused":
        message = kinds.refused_message(info, name or "", _written_namespace(value), file)
        result.errors.append(
            LoadError(file, source.line, message, "object", kind, name, object_line=source.line)
        )
        return
    _check(value, info, name or "", source, file, result)


def _name(value: Mapping[str, Any]) -> str | None:
    meta = value.get("metadata")
    name = meta.get("name") if isinstance(meta, Mapping) else None
    return name if isinstance(name, str) else None


def _kubectl_validation_error(problems: list[str]) -> str:
    """cli-runtime's ``ValidateSchema`` wording (kubectl prefixes ``error validating "<file>": ``)."""
    return (
        f"error validating data: {errors.aggregate(problems)}; "
        "if you choose to ignore these errors, turn validation off with --validate=false"
    )


def _kind_problems(api_version: Any, kind: Any) -> list[str]:
    """kubectl's ``getObjectKind`` checks (``k8s.io/kubectl/pkg/validation``)."""
    problems = []
    if api_version is None or api_version == "":
        problems.append("apiVersion not set")
    elif not isinstance(api_version, str):
        problems.append("apiVersion isn't string type")
    elif api_version.count("/") > 1:
        problems.append(f"unexpected GroupVersion string: {api_version}")
    if kind is None or kind == "":
        problems.append("kind not set")
    elif not isinstance(kind, str):
        problems.append("kind isn't string type")
    return problems


def _written_namespace(value: Mapping[str, Any]) -> str:
    meta = value.get("metadata")
    namespace = meta.get("namespace") if isinstance(meta, Mapping) else None
    return namespace if isinstance(namespace, str) else ""


def _check(
    value: dict[str, Any],
    info: kinds.Kind,
    name: str,
    source: SourceMap,
    file: str,
    result: LoadResult,
) -> None:
    api_version, kind = info.api_version, info.kind
    decoded = json_normalize(value)
    decoding = schema.decode(kind, api_version, decoded)
    if decoding.errors:
        # The API server would stop here: nothing of a failed decode gets defaulted or validated.
        for e in sorted(decoding.errors, key=lambda e: source.line_of(e.path)):
            message = schema.handled_as(kind, api_version, e.detail)
            line = source.line_of(e.path)
            result.errors.append(
                LoadError(file, line, message, "decode", kind, name, str(e.path), None, source.line)
            )
        return
    if _has_null(decoded):  # rare in manifests, and go_nulls rebuilds the whole object
        decoded = schema.go_nulls(kind, api_version, decoded)
    decoding_problem = conversion.convert(decoded, kind, api_version)
    if decoding_problem is not None:
        path, detail = decoding_problem
        line = source.line_of(path)
        message = schema.handled_as(kind, api_version, detail)
        result.errors.append(
            LoadError(file, line, message, "decode", kind, name, str(path), None, source.line)
        )
        return
    apply_defaults(decoded)
    field_errors = validation.validate(decoded)
    field_errors += [
        errors.required(p) for p in decoding.missing if not any(_related(p, e.path) for e in field_errors)
    ]
    if field_errors:
        _report_invalid(errors.dedupe(field_errors), kind, name, source, file, result)
        return
    try:
        obj = info.model.model_validate(decoded)
    except pydantic.ValidationError as e:  # a gap between hitless's types and the schema
        message = f"hitless cannot represent this {kind}: {e.errors()[0]['msg']}"
        result.errors.append(
            LoadError(file, source.line, message, "invalid", kind, name, object_line=source.line)
        )
        return
    # ``value`` is the parser's own tree, which nothing else holds: json_normalize built
    # ``decoded`` afresh, so defaulting never reached it.
    result.objects.append(LoadedObject(obj, file, source.line, value, source))


def _has_null(value: Any) -> bool:
    if type(value) is dict:
        return any(v is None or (type(v) in (dict, list) and _has_null(v)) for v in value.values())
    if type(value) is list:
        return any(v is None or (type(v) in (dict, list) and _has_null(v)) for v in value)
    return value is None


def _related(a: Path, b: Path) -> bool:
    return a.startswith(b) or b.startswith(a)


def _report_invalid(
    field_errors: list[FieldError], kind: str, name: str, source: SourceMap, file: str, result: LoadResult
) -> None:
    qualified = QUALIFIED_KIND.get(kind, kind)
    for fe in field_errors:
        message = errors.invalid_message(qualified, name, [fe])
        line = source.line_of(fe.path)
        result.errors.append(
            LoadError(file, line, message, "invalid", kind, name, str(fe.path), fe, source.line)
        )


def api_server_messages(result: LoadResult) -> list[str]:
    """The errors as the API server words them: one message per rejected object.

    hitless reports each problem on its own line; the API server answers a request with one
    message: all field errors together (``Pod "web" is invalid: [err1, err2]``), or, for a failed
    decode, the first wrong type only, else every unknown field in one strict decoding error.
    """
    grouped: dict[tuple[str, int], list[LoadError]] = {}
    order: list[tuple[str, int] | LoadError] = []
    for e in result.errors:
        if e.category in ("decode", "invalid") and e.kind and e.object_line:
            key = (e.file, e.object_line)
            if key not in grouped:
                grouped[key] = []
                order.append(key)
            grouped[key].append(e)
        else:
            order.append(e)
    return [item.message if isinstance(item, LoadError) else _object_message(grouped[item]) for item in order]


def _object_message(object_errors: list[LoadError]) -> str:
    first = object_errors[0]
    kind, name = first.kind or "", first.name or ""
    field_errors = [e.field_error for e in object_errors if e.field_error is not None]
    if field_errors:
        return errors.invalid_message(first.qualified or QUALIFIED_KIND.get(kind, kind), name, field_errors)
    # The server decodes the JSON kubectl made from the YAML, whose keys Go sorts; the decoder
    # keeps the first wrong type, and reports unknown fields only when there is none.
    in_json_order = sorted(object_errors, key=lambda e: _json_order(parse(e.field or "")))
    # Messages are '<Kind> in version "<v>" cannot be handled as a <Kind>: <decoder error>'.
    prefix = first.message.split(": ", 1)[0]
    details = [e.message.split(": ", 1)[1] for e in in_json_order]
    strict = "strict decoding error: "
    type_errors = [d for d in details if not d.startswith(strict)]
    if type_errors:
        return f"{prefix}: {type_errors[0]}"
    return prefix + ": " + strict + ", ".join(d.removeprefix(strict) for d in details)


def _json_order(segments: tuple[Segment, ...]) -> tuple[tuple[int, str], ...]:
    return tuple((s, "") if isinstance(s, int) else (0, s) for s in segments)
