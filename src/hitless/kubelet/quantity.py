"""resource.Quantity's value, for the downward API and emptyDir size limits.

Source: k8s.io/apimachinery/pkg/api/resource/quantity.go (the suffixes) and
pkg/api/v1/resource/helpers.go (how the downward API divides and rounds). Values are exact
fractions; the API server has already refused a quantity that does not parse.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 10**3),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
}
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$")


def parse_quantity(text: str | int | float) -> Fraction:
    if isinstance(text, int | float):
        return Fraction(text)
    m = _QUANTITY.match(text.strip())
    if m is None:
        raise ValueError(f"quantities must match the regular expression: {text!r}")
    number = Fraction(m.group(1))
    if m.group(2):
        return number * Fraction(10) ** int(m.group(2)[1:])
    suffix = m.group(3) or ""
    return number * (_BINARY[suffix] if suffix in _BINARY else _DECIMAL[suffix])


def milli_value(q: Fraction) -> int:
    """Quantity.MilliValue: rounded up, as ScaledValue rounds."""
    return math.ceil(q * 1000)


def value(q: Fraction) -> int:
    """Quantity.Value: rounded up."""
    return math.ceil(q)
