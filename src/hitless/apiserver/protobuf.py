"""Protobuf request bodies (``application/vnd.kubernetes.protobuf``) decoded to the API's JSON.

kubectl's typed clients (``kubectl create namespace|configmap|secret|deployment``, ``auth
can-i``) and many operators send built-in objects as protobuf. The body is the envelope of
k8s.io/apimachinery/pkg/runtime/serializer/protobuf (the magic ``k8s\\x00``, then a
``runtime.Unknown`` with the TypeMeta and the object's bytes); the object is decoded with the
field table that tools/gen_proto_fields.py made from Kubernetes' generated.proto files
(proto_fields.json), into the JSON the same object has, so that it takes the JSON path from
there. Answers stay JSON, which these clients accept.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

from hitless.apiserver import status
from hitless.apiserver.kinds import Resource

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
_MAGIC = b"k8s\x00"
_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
_TIME = {_META + "Time", _META + "MicroTime"}
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_INTSTR = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_RAW = {"io.k8s.apimachinery.pkg.runtime.RawExtension", _META + "FieldsV1"}
_DURATION = _META + "Duration"


@cache
def _table() -> tuple[dict[str, dict[str, list[Any]]], frozenset[str]]:
    data = json.loads(resources.files("hitless.apiserver").joinpath("proto_fields.json").read_text())
    return data["messages"], frozenset(data["lists"])


class _Malformed(ValueError):
    pass


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if i >= len(buf):
            raise _Malformed("truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7
        if shift > 70:
            raise _Malformed("varint too long")


def _fields(buf: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value: int or bytes) in order."""
    out: list[tuple[int, int, Any]] = []
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
            out.append((number, wire, value))
        elif wire == 2:
            length, i = _varint(buf, i)
            if i + length > len(buf):
                raise _Malformed("truncated field")
            out.append((number, wire, buf[i : i + length]))
            i += length
        elif wire == 1:
            out.append((number, wire, int.from_bytes(buf[i : i + 8], "little")))
            i += 8
        elif wire == 5:
            out.append((number, wire, int.from_bytes(buf[i : i + 4], "little")))
            i += 4
        else:
            raise _Malformed(f"wire type {wire}")
    return out


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _packed(raw: bytes) -> list[int]:
    out, i = [], 0
    while i < len(raw):
        v, i = _varint(raw, i)
        out.append(_signed(v))
    return out


def _scalar(kind: str, wire: int, value: Any) -> Any:
    if isinstance(value, int) == (kind in ("s", "y")):
        raise _Malformed(f"wire type {wire} where a {'number' if kind in ('i', 'b') else 'string'} belongs")
    if kind == "s":
        return bytes(value).decode("utf-8")
    if kind == "y":
        return base64.b64encode(bytes(value)).decode()
    if kind == "b":
        return bool(value)
    return _signed(value)


def _message(name: str, buf: bytes) -> Any:
    messages, lists = _table()
    if name in _TIME:
        parts = {n: v for n, _, v in _fields(buf)}
        if not parts.get(1) and not parts.get(2):
            return None  # the zero Time, which is null in JSON
        when = datetime.fromtimestamp(_signed(parts.get(1, 0)), UTC)
        if name.endswith("MicroTime"):
            micros = _signed(parts.get(2, 0)) // 1000
            return when.strftime("%Y-%m-%dT%H:%M:%S") + f".{micros:06d}Z"
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")
    if name == _QUANTITY:
        return next((bytes(v).decode() for n, _, v in _fields(buf) if n == 1), "0")
    if name == _INTSTR:
        parts = {n: v for n, _, v in _fields(buf)}
        if parts.get(1, 0) == 0:
            return _signed(parts.get(2, 0))
        return bytes(parts.get(3, b"")).decode()
    if name in _RAW:
        raw = next((bytes(v) for n, _, v in _fields(buf) if n == 1), b"")
        return json.loads(raw) if raw else {}
    if name == _DURATION:
        nanos = next((_signed(v) for n, _, v in _fields(buf) if n == 1), 0)
        return f"{nanos / 1e9:g}s"
    if name in lists:
        return [bytes(v).decode() for n, _, v in _fields(buf) if n == 1]
    spec = messages.get(name)
    if spec is None:
        raise _Malformed(f"unknown message {name}")
    out: dict[str, Any] = {}
    for number, wire, value in _fields(buf):
        entry = spec.get(str(number))
        if entry is None:
            raise _Malformed(f"unknown field {number} of {name.rsplit('.', 1)[-1]}")
        field, kind = entry[0], entry[1]
        if kind == "map":
            parts = {n: v for n, _, v in _fields(value)}
            key = _convert(entry[2], 2, parts.get(1, b""))
            item = parts.get(2, 0 if entry[3] in ("i", "b") else b"")
            out.setdefault(field, {})[key] = _convert(entry[3], 2, item)
            continue
        repeated = entry[2]
        if repeated and wire == 2 and kind in ("i", "b"):
            out.setdefault(field, []).extend(bool(v) if kind == "b" else v for v in _packed(value))
            continue
        converted = _convert(kind, wire, value)
        flags = entry[3:]
        if "inline" in flags and isinstance(converted, dict):
            out.update(converted)
        elif repeated:
            out.setdefault(field, []).append(converted)
        elif converted is None:
            continue  # the zero Time: null in JSON
        elif len(kind) > 1 or converted not in ("", 0, False) or "zero" in flags:
            # gogo's proto2 writes every Go value field, zero or not; Go's JSON leaves a zero out
            # of an omitempty field, and writes pointers (set on purpose) and the others.
            out[field] = converted
    return out


def _convert(kind: str, wire: int, value: Any) -> Any:
    if len(kind) == 1:
        return _scalar(kind, wire, value)
    if isinstance(value, int):
        raise _Malformed(f"wire type {wire} where a message belongs")
    return _message(kind, bytes(value))


def decode(resource: Resource, body: bytes) -> dict[str, Any]:
    """The JSON of a protobuf body for ``resource``, or a 400 in the decoder's words."""
    if not body.startswith(_MAGIC):
        raise status.bad_request(
            "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]"
        )
    try:
        unknown = {n: v for n, _, v in _fields(body[len(_MAGIC) :])}
        type_meta = {n: bytes(v).decode() for n, _, v in _fields(unknown.get(1, b""))}
        api_version, kind = type_meta.get(1, resource.group_version), type_meta.get(2, resource.kind)
        name = _definition(api_version, kind) or _definition(resource.group_version, resource.kind)
        if name is None:
            raise _Malformed(f"no protobuf message for {kind} in {api_version}")
        obj = _message(name, bytes(unknown.get(2, b"")))
    except (_Malformed, UnicodeDecodeError, ValueError) as exc:
        raise status.bad_request(f"unable to decode the protobuf body: {exc}") from exc
    if not isinstance(obj, dict):
        raise status.bad_request("unable to decode the protobuf body: not an object")
    return {"apiVersion": api_version, "kind": kind, **obj}


def _definition(api_version: str, kind: str) -> str | None:
    group, _, version = api_version.rpartition("/")
    messages, _ = _table()
    prefix = "io.k8s.api." + (group.split(".")[0] if group else "core") + "." + version + "."
    return prefix + kind if prefix + kind in messages else None
