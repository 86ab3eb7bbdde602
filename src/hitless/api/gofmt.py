"""Values printed the way Go's ``fmt`` prints them in API server messages.

``field.Error.ErrorBody`` prints a bad value with ``%v`` for numbers and bools, ``%q`` for strings,
``String()`` for types that have one (``intstr.IntOrString``, ``metav1.LabelSelector``) and ``%#v``
for everything else (``map[string]string{"app":"web"}``). hitless has no Go values, so a validator
passes either a plain Python value or a ``GoLiteral`` holding the exact text Go would print.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

_ESCAPES = {"\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r", "\t": r"\t", "\v": r"\v"}


@dataclass(frozen=True)
class GoLiteral:
    """Text exactly as Go would print the value (a ``String()`` result or a ``%#v`` rendering)."""

    text: str

    def __str__(self) -> str:
        return self.text


GoValue = str | int | float | bool | None | GoLiteral


def _is_go_print(ch: str) -> bool:
    # unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space.
    return ch == " " or unicodedata.category(ch)[0] in "LMNPS"


def quote(s: str) -> str:
    """``strconv.Quote``: double quotes, Go escapes, printable runes kept as they are."""
    out = ['"']
    for ch in s:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif _is_go_print(ch):
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def float_v(f: float) -> str:
    """``%v`` of a float64: shortest digits, ``%e`` form when the exponent is < -4 or >= 6."""
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "+Inf" if f > 0 else "-Inf"
    sign, digits, exponent = Decimal(repr(f)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    exp = len(text) - 1 + exponent
    minus = "-" if sign else ""
    if exp < -4 or exp >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{minus}{mantissa}e{exp:+03d}"
    return minus + format(Decimal(repr(abs(f))).normalize(), "f")


def value(v: GoValue) -> str:
    """A bad value as ``ErrorBody`` prints it."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return float_v(v)
    if isinstance(v, str):
        return quote(v)
    return v.text


def string_map(m: Mapping[str, Any] | None) -> GoLiteral:
    """``%#v`` of a ``map[string]string``: keys sorted, ``(nil)`` for a nil map."""
    if m is None:
        return GoLiteral("map[string]string(nil)")
    inner = ", ".join(f"{quote(k)}:{quote(str(m[k]))}" for k in sorted(m))
    return GoLiteral(f"map[string]string{{{inner}}}")


def intstr(v: int | str) -> GoLiteral:
    """``intstr.IntOrString.String()``: the number, or the string unquoted."""
    return GoLiteral(str(v))


def label_selector(selector: Mapping[str, Any] | None) -> GoLiteral:
    """The protobuf-generated ``(*metav1.LabelSelector).String()``.

    Reconstructed from the generated code's layout (``&LabelSelector{MatchLabels:map[string]string{k: v,},
    MatchExpressions:[]LabelSelectorRequirement{...},}``); not checked against a 1.34 server.
    """
    if selector is None:
        return GoLiteral("nil")
    labels = selector.get("matchLabels") or {}
    label_text = "".join(f"{k}: {labels[k]}," for k in sorted(labels))
    exprs = selector.get("matchExpressions") or []
    expr_text = "".join(_requirement(e) + "," for e in exprs if isinstance(e, Mapping))
    return GoLiteral(
        f"&LabelSelector{{MatchLabels:map[string]string{{{label_text}}},"
        f"MatchExpressions:[]LabelSelectorRequirement{{{expr_text}}},}}"
    )


def _requirement(req: Mapping[str, Any]) -> str:
    values: Sequence[Any] = req.get("values") or []
    return (
        f"LabelSelectorRequirement{{Key:{req.get('key') or ''},Operator:{req.get('operator') or ''},"
        f"Values:[{' '.join(str(v) for v in values)}],}}"
    )
