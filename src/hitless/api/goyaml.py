"""Scalars and keys as go-yaml v2 reads them, which is what kubectl and the API server use.

sigs.k8s.io/yaml converts YAML to JSON with go-yaml v2 (the fork vendored at
``sigs.k8s.io/yaml/goyaml.v2``), decoding into ``interface{}``. What a plain scalar becomes is
``resolve()`` in go-yaml v2's ``resolve.go``, ported here line by line: its table of bools and
nulls (YAML 1.1: ``yes``, ``on``, ``y``...), ``strconv.ParseInt(s, 0, 64)`` (so ``0755`` and
``0o17`` are octal, ``0x1F`` hex, ``08`` is no int but the float 8), then ``ParseUint``, then
floats that match its ``yamlStyleFloat`` (so ``1e3`` is the number 1000, and ``1e400``, which
``ParseFloat`` refuses as out of range, stays a string). PyYAML's own resolver (YAML 1.1 regular
expressions) disagrees with it in many corners and raised on some explicit tags (``!!int x``,
``0x_``); hitless no longer uses it.

An explicit tag (``!!int``, ``!!bool``...) that the value does not satisfy is go-yaml's
``cannot decode !!str `x` as a !!int``, which fails the whole document, as it fails kubectl.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import struct
from datetime import datetime
from decimal import Decimal
from typing import Any

TAG = "tag:yaml.org,2002:"
STR = TAG + "str"
INT = TAG + "int"
FLOAT = TAG + "float"
BOOL = TAG + "bool"
NULL = TAG + "null"
TIMESTAMP = TAG + "timestamp"
BINARY = TAG + "binary"
MERGE = TAG + "merge"
_RESOLVABLE = {STR, BOOL, INT, FLOAT, NULL, TIMESTAMP}

# resolve.go's resolveMap.
_MAP: dict[str, tuple[str, Any]] = {}
for _v, _tag, _words in (
    (True, BOOL, "y Y yes Yes YES true True TRUE on On ON"),
    (False, BOOL, "n N no No NO false False FALSE off Off OFF"),
    (None, NULL, "~ null Null NULL"),
    (math.nan, FLOAT, ".nan .NaN .NAN"),
    (math.inf, FLOAT, ".inf .Inf .INF +.inf +.Inf +.INF"),
    (-math.inf, FLOAT, "-.inf -.Inf -.INF"),
    ("<<", MERGE, "<<"),
):
    for _word in _words.split():
        _MAP[_word] = (_tag, _v)
_MAP[""] = (NULL, None)
# resolve.go's resolveTable: the first byte says which parsers to try.
_HINTS = {**dict.fromkeys("+-", "S"), **dict.fromkeys("0123456789", "D"), **dict.fromkeys("yYnNtTfFoO~", "M")}
_HINTS["."] = "."
_YAML_STYLE_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
# strconv.ParseFloat on text starting with "." (hex floats cannot).
_DOT_FLOAT = re.compile(r"\.[0-9]+([eE][-+]?[0-9]+)?")
_DIGITS = {"0x": (16, "0123456789abcdefABCDEF"), "0o": (8, "01234567"), "0b": (2, "01")}
_INT64 = 2**63
_UINT64 = 2**64
# allowedTimestampFormats (date-time with T or t and a zone, date and time with a space, date).
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:(?:[Tt](\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d{1,9})?(?:Z|[-+]\d{2}:\d{2}))"
    r"|(?: (\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d{1,9})?))?"
)


class GoYamlError(Exception):
    """One of go-yaml's ``failf`` errors: the whole document fails to convert."""


def resolve_plain(value: str) -> Any:
    """A plain (unquoted, untagged) scalar: ``resolve("", value)``."""
    hint = _HINTS.get(value[:1]) if value else "N"
    if hint is None:
        return value
    return _resolve("", value, hint)[1]


def resolve_tagged(tag: str, value: str) -> Any:
    """A scalar with an explicit tag; raises ``GoYamlError`` when the value does not fit it."""
    if tag == BINARY:
        try:
            data = base64.b64decode(value.replace("\n", "").replace("\r", ""), validate=True)
        except (binascii.Error, ValueError):
            raise GoYamlError("!!binary value contains invalid base64 data") from None
        # encoding/json writes a Go string's invalid UTF-8 as U+FFFD.
        return data.decode("utf-8", "replace")
    if tag not in _RESOLVABLE:
        return value  # any other tag: the text, untouched
    if tag == STR:
        return value
    hint = _HINTS.get(value[:1], "") if value else "N"
    rtag, out = _resolve(tag, value, hint) if hint else (STR, value)
    if rtag == tag:
        return value if tag == TIMESTAMP else out
    if tag == FLOAT and rtag == INT:
        return float(out)
    raise GoYamlError(f"cannot decode {short_tag(rtag)} `{value}` as a {short_tag(tag)}")


def short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix(TAG) if tag.startswith(TAG) else tag


def _resolve(tag: str, value: str, hint: str) -> tuple[str, Any]:
    item = _MAP.get(value)
    if item is not None:
        return item
    if hint == ".":
        if _DOT_FLOAT.fullmatch(value):
            f = float(value)
            if not math.isinf(f):
                return FLOAT, f
    elif hint in ("D", "S"):
        # Timestamps stay strings when decoded into interface{}; only a tag asks for one.
        if tag in ("", TIMESTAMP) and _is_timestamp(value):
            return TIMESTAMP, value
        plain = value.replace("_", "")
        i = _parse_int(plain)
        if i is not None and -_INT64 <= i < _INT64:
            return INT, i
        if i is not None and 0 <= i < _UINT64 and plain[:1] != "+":  # ParseUint: no sign
            return INT, i
        if _YAML_STYLE_FLOAT.fullmatch(plain):
            f = float(plain)
            if not math.isinf(f):  # ParseFloat: out of range is an error
                return FLOAT, f
        if plain.startswith("0b"):  # ParseInt(plain[2:], 2, 64) accepts a sign after 0b
            i = _parse_digits(plain[2:].lstrip("+-"), 2, "01")
            if i is not None:
                i = -i if plain[2:3] == "-" else i
                if -_INT64 <= i < _UINT64:
                    return INT, i
    return STR, value


def _parse_int(s: str) -> int | None:
    """``strconv.ParseInt(s, 0, 64)`` without its range check: a sign, then 0x/0o/0b/0 or decimal."""
    sign = 1
    if s[:1] in ("+", "-"):
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    prefix = s[:2].lower()
    if prefix in _DIGITS:
        base, digits = _DIGITS[prefix]
        i = _parse_digits(s[2:], base, digits)
    elif len(s) > 1 and s[0] == "0":
        i = _parse_digits(s[1:], 8, "01234567")
    else:
        i = _parse_digits(s, 10, "0123456789")
    return None if i is None else sign * i


def _parse_digits(s: str, base: int, digits: str) -> int | None:
    if not s or len(s) > 70 or any(c not in digits for c in s):
        return None
    return int(s, base)


def _is_timestamp(s: str) -> bool:
    """go-yaml v2's parseTimestamp: a date that ``time.Parse`` accepts in one of its layouts."""
    m = _TIMESTAMP.fullmatch(s)
    if m is None:
        return False
    try:
        datetime(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return False
    hms = m.group(4, 5, 6) if m[4] is not None else m.group(7, 8, 9)
    return hms[0] is None or (int(hms[0]) < 24 and int(hms[1]) < 60 and int(hms[2]) < 60)


def json_key(key: Any) -> str:
    """The JSON key sigs.k8s.io/yaml makes of a YAML key (``convertToJSONableObject``)."""
    if type(key) is str:
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float):
        return format_float32(key)
    if key is None:
        raise GoYamlError("")  # the caller words it: it needs the value too
    raise GoYamlError(f"invalid map key: {go_repr(key)}")


def format_float32(f: float) -> str:
    """``strconv.FormatFloat(f, 'g', -1, 32)`` as go-yaml's keys use it, with its spellings of
    the infinities and NaN."""
    if math.isnan(f):
        return ".nan"
    if math.isinf(f):
        return ".inf" if f > 0 else "-.inf"
    try:
        f32 = struct.unpack("f", struct.pack("f", f))[0]
    except OverflowError:
        return ".inf" if f > 0 else "-.inf"
    if math.isinf(f32):
        return ".inf" if f > 0 else "-.inf"
    for precision in range(9):
        text = f"{f32:.{precision}e}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == f32:
            break
    mantissa, exp_text = text.split("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    exp = int(exp_text)
    if exp < -4 or exp >= 6:  # 'g' with the shortest precision decides with 6
        return f"{mantissa}e{exp:+03d}"
    plain = format(Decimal(text), "f")
    return plain.rstrip("0").rstrip(".") if "." in plain else plain


def go_repr(v: Any) -> str:
    """``%#v`` of what go-yaml v2 decoded into ``interface{}`` (for its messages)."""
    if v is None:
        return "interface {}(nil)"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        from hitless.api.gofmt import quote

        return quote(v)
    if isinstance(v, list):
        return "[]interface {}{" + ", ".join(go_repr(x) for x in v) + "}"
    if isinstance(v, dict):
        return (
            "map[interface {}]interface {}{"
            + ", ".join(f"{go_repr(k)}:{go_repr(x)}" for k, x in v.items())
            + "}"
        )
    return repr(v)
