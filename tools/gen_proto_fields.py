"""Generate src/hitless/apiserver/proto_fields.json from Kubernetes' generated.proto files.

The API server decodes protobuf request bodies (kubectl's typed clients send them) with this
table: for each message, its field numbers, JSON names and types, and whether the field is an
embedded Go struct whose fields JSON inlines (detected against the OpenAPI schemas: the parent's
JSON has the embedded message's properties and not the field's own name).

    python tools/gen_proto_fields.py API_REPO APIMACHINERY_REPO > src/hitless/apiserver/proto_fields.json

API_REPO and APIMACHINERY_REPO are checkouts of kubernetes/api and kubernetes/apimachinery (the
GA group-versions' generated.proto files are read; field numbers are never reused upstream).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from hitless.apiserver.openapi import _definitions

APIMACHINERY = [
    "pkg/api/resource/generated.proto",
    "pkg/apis/meta/v1/generated.proto",
    "pkg/runtime/generated.proto",
    "pkg/runtime/schema/generated.proto",
    "pkg/util/intstr/generated.proto",
]
_FIELD = re.compile(r"^\s*(optional|repeated)\s+([.\w]+)\s+(\w+)\s*=\s*(\d+)")
_MAP = re.compile(r"^\s*map<\s*(\w+)\s*,\s*([.\w]+)\s*>\s+(\w+)\s*=\s*(\d+)")
_SCALARS = {"string": "s", "bool": "b", "int32": "i", "int64": "i", "bytes": "y"}


def _def_name(package: str, message: str) -> str:
    # k8s.io.api.core.v1 -> io.k8s.api.core.v1
    rest = package.removeprefix("k8s.io.")
    return f"io.k8s.{rest}.{message}"


def _type(package: str, t: str) -> str:
    if t in _SCALARS:
        return _SCALARS[t]
    if t.startswith("."):
        pkg, _, msg = t[1:].rpartition(".")
        return _def_name(pkg, msg)
    return _def_name(package, t)


def parse(text: str, out: dict[str, dict[str, list[Any]]]) -> None:
    package = re.search(r"^package ([\w.]+);", text, re.M).group(1)  # type: ignore[union-attr]
    current: dict[str, list[Any]] | None = None
    for line in text.splitlines():
        m = re.match(r"^message (\w+) \{", line)
        if m:
            current = out.setdefault(_def_name(package, m.group(1)), {})
            continue
        if line.startswith("}"):
            current = None
            continue
        if current is None:
            continue
        m = _FIELD.match(line)
        if m:
            label, t, name, num = m.groups()
            current[num] = [name, _type(package, t), label == "repeated"]
            continue
        m = _MAP.match(line)
        if m:
            key, value, name, num = m.groups()
            current[num] = [name, "map", _type(package, key), _type(package, value)]


_STRUCT = re.compile(r"^type (\w+) struct \{")
_GO_FIELD = re.compile(r'^\s+\w+\s+(\*?)[\w.\[\]*]+\s+`json:"([^"]*)".*protobuf:"\w+,(\d+),')


def zero_kept(types_go: str, package: str, messages: dict[str, dict[str, list[Any]]]) -> None:
    """Mark the fields whose zero value Go's JSON writes: pointers (set, even to zero) and
    fields without omitempty. A zero in any other field is left out, as Go's JSON does."""
    current: dict[str, list[Any]] | None = None
    for line in types_go.splitlines():
        m = _STRUCT.match(line)
        if m:
            current = messages.get(_def_name(package, m.group(1)))
            continue
        if line.startswith("}"):
            current = None
            continue
        m = _GO_FIELD.match(line)
        if current is None or m is None:
            continue
        pointer, tag, number = m.groups()
        entry = current.get(number)
        if entry is not None and (pointer or "omitempty" not in tag.split(",")[1:]):
            entry.append("zero")


def main() -> None:
    api, machinery = Path(sys.argv[1]), Path(sys.argv[2])
    messages: dict[str, dict[str, list[Any]]] = {}
    sources = []
    for path in sorted(api.glob("*/*/generated.proto")):
        if "alpha" in path.parent.name or "beta" in path.parent.name:
            continue
        parse(path.read_text(), messages)
        sources.append(path.parent)
    for rel in APIMACHINERY:
        parse((machinery / rel).read_text(), messages)
        sources.append((machinery / rel).parent)
    for directory in sources:
        package = re.search(r"^package ([\w.]+);", (directory / "generated.proto").read_text(), re.M)
        types_go = directory / "types.go"
        if package and types_go.exists():
            zero_kept(types_go.read_text(), package.group(1), messages)
    defs = _definitions()

    def json_names(message: str) -> set[str]:
        # A message with no schema of its own (ProbeHandler) is known by its proto field names.
        props = (defs.get(message) or {}).get("properties")
        if props:
            return set(props)
        return {f[0] for f in messages.get(message, {}).values()}

    for name, fields in messages.items():
        props = set((defs.get(name) or {}).get("properties") or {})
        for entry in fields.values():
            sub = entry[1]
            if sub in messages and entry[0] not in props and props:
                sub_props = json_names(sub)
                if sub_props and sub_props <= props:
                    entry.append("inline")
    # Go slices given a message of their own for protobuf (ExtraValue, Verbs): `repeated items = 1`.
    lists = sorted(
        n
        for n, fields in messages.items()
        if n not in defs and list(fields) == ["1"] and fields["1"][0] == "items" and fields["1"][2]
    )
    json.dump({"messages": messages, "lists": lists}, sys.stdout, separators=(",", ":"), sort_keys=True)


if __name__ == "__main__":
    main()
