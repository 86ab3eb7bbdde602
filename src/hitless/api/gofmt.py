"""Values printed the way Go's ``fmt`` prints them in API server messages.

``field.Error.ErrorBody`` (``k8s.io/apimachinery/pkg/util/validation/field/errors.go``, read in a
vendored 1.32 copy) prints a nil as the string ``"null"``, dereferences any other pointer, then
prints ``%v`` for int64/int32, floats and bools, ``%q`` for a ``string``, ``String()`` when the
*dereferenced value* implements ``fmt.Stringer``, and ``%#v`` for everything else.
``intstr.IntOrString`` and ``metav1.LabelSelector`` define ``String()`` on the pointer only, so
they print with ``%#v`` (``intstr.IntOrString{Type:1, IntVal:0, StrVal:"abc"}``); the change
that would have used the pointer's ``String()`` (kubernetes PR 109387) was never merged.

Not confirmed for 1.34: kubernetes PR 132314 (opened June 2025) renders composite values as JSON
(``{"app":"web"}``) and is in later releases; if it shipped in 1.34 already, ``intstr``,
``string_map``, ``label_selector`` and the ``%#v`` literals in ``validation/`` are what changes.

hitless has no Go values, so a validator passes either a plain Python value or a ``GoLiteral``
holding the exact text Go would print.
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
        # ErrorBody replaces a nil with the string "null", which it then prints with %q.
        return quote("null")
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
    """``%#v`` of an ``intstr.IntOrString`` value: ``Type`` 0 holds an int, 1 a string."""
    if isinstance(v, str):
        return GoLiteral(f"intstr.IntOrString{{Type:1, IntVal:0, StrVal:{quote(v)}}}")
    return GoLiteral(f'intstr.IntOrString{{Type:0, IntVal:{v}, StrVal:""}}')


def label_selector(selector: Mapping[str, Any] | None) -> GoLiteral:
    """A ``*metav1.LabelSelector`` as ``ErrorBody`` prints it: ``"null"`` for nil, else ``%#v`` of the
    struct (``MatchLabels`` and ``MatchExpressions`` nil when absent, empty when written empty)."""
    if selector is None:
        return GoLiteral(value(None))
    labels = selector.get("matchLabels")
    exprs = selector.get("matchExpressions")
    match_labels = string_map(labels if isinstance(labels, Mapping) else None).text
    if not isinstance(exprs, Sequence):
        match_expressions = "[]v1.LabelSelectorRequirement(nil)"
    else:
        inner = ", ".join(_requirement(e if isinstance(e, Mapping) else {}) for e in exprs)
        match_expressions = f"[]v1.LabelSelectorRequirement{{{inner}}}"
    return GoLiteral(f"v1.LabelSelector{{MatchLabels:{match_labels}, MatchExpressions:{match_expressions}}}")


def _requirement(req: Mapping[str, Any]) -> str:
    values = req.get("values")
    if isinstance(values, Sequence) and not isinstance(values, str):
        shown = "[]string{" + ", ".join(quote(v if isinstance(v, str) else "") for v in values) + "}"
    else:
        shown = "[]string(nil)"
    key, operator = req.get("key"), req.get("operator")
    return (
        f"v1.LabelSelectorRequirement{{Key:{quote(key if isinstance(key, str) else '')}, "
        f"Operator:{quote(operator if isinstance(operator, str) else '')}, Values:{shown}}}"
    )
