"""Errors in the API server's own words.

``FieldError`` is ``field.Error`` (``k8s.io/apimachinery/pkg/util/validation/field/errors.go``):
``<path>: <Type>[: <value>][: <detail>]``. ``LoadError`` is one finding of the loader with its
``file:line``; its ``message`` is the text the API server (or kubectl, for file-level problems)
would print for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Literal

from hitless.api import gofmt
from hitless.api.fieldpath import Path
from hitless.api.gofmt import GoValue


class ErrorType(Enum):
    """``field.ErrorType``: the value is the machine-readable reason used in Status causes."""

    NOT_FOUND = "FieldValueNotFound"
    REQUIRED = "FieldValueRequired"
    DUPLICATE = "FieldValueDuplicate"
    INVALID = "FieldValueInvalid"
    NOT_SUPPORTED = "FieldValueNotSupported"
    FORBIDDEN = "FieldValueForbidden"
    TOO_LONG = "FieldValueTooLong"
    TOO_MANY = "FieldValueTooMany"
    INTERNAL = "InternalError"

    @property
    def text(self) -> str:
        return _TYPE_TEXT[self]


_TYPE_TEXT = {
    ErrorType.NOT_FOUND: "Not found",
    ErrorType.REQUIRED: "Required value",
    ErrorType.DUPLICATE: "Duplicate value",
    ErrorType.INVALID: "Invalid value",
    ErrorType.NOT_SUPPORTED: "Unsupported value",
    ErrorType.FORBIDDEN: "Forbidden",
    ErrorType.TOO_LONG: "Too long",
    ErrorType.TOO_MANY: "Too many",
    ErrorType.INTERNAL: "Internal error",
}
# ErrorBody prints no value for these types.
_VALUELESS = {ErrorType.REQUIRED, ErrorType.FORBIDDEN, ErrorType.TOO_LONG, ErrorType.INTERNAL}


@dataclass(frozen=True)
class FieldError:
    type: ErrorType
    path: Path
    value: GoValue = ""
    detail: str = ""

    def body(self) -> str:
        """``ErrorBody()``: the message without the field, as in a Status cause."""
        s = self.type.text if self.type in _VALUELESS else f"{self.type.text}: {gofmt.value(self.value)}"
        return f"{s}: {self.detail}" if self.detail else s

    def __str__(self) -> str:
        return f"{self.path}: {self.body()}"


# The constructors of field/errors.go, same names and arguments.


def required(path: Path, detail: str = "") -> FieldError:
    return FieldError(ErrorType.REQUIRED, path, "", detail)


def invalid(path: Path, value: GoValue, detail: str) -> FieldError:
    return FieldError(ErrorType.INVALID, path, value, detail)


def not_supported(path: Path, value: GoValue, valid: Sequence[str]) -> FieldError:
    detail = "supported values: " + ", ".join(gofmt.quote(v) for v in valid) if valid else ""
    return FieldError(ErrorType.NOT_SUPPORTED, path, value, detail)


def duplicate(path: Path, value: GoValue) -> FieldError:
    return FieldError(ErrorType.DUPLICATE, path, value)


def forbidden(path: Path, detail: str) -> FieldError:
    return FieldError(ErrorType.FORBIDDEN, path, "", detail)


def not_found(path: Path, value: GoValue) -> FieldError:
    return FieldError(ErrorType.NOT_FOUND, path, value)


def too_long(path: Path, max_length: int) -> FieldError:
    # field.TooLong since 1.32 (apimachinery's "may not be more than %d bytes"; "byte" for 1 only
    # in later releases, which no caller here reaches).
    return FieldError(ErrorType.TOO_LONG, path, "", f"may not be more than {max_length} bytes")


def dedupe(errors: Iterable[FieldError]) -> list[FieldError]:
    """``ErrorList.ToAggregate`` drops errors whose text repeats an earlier one."""
    seen: set[str] = set()
    out: list[FieldError] = []
    for e in errors:
        text = str(e)
        if text not in seen:
            seen.add(text)
            out.append(e)
    return out


def aggregate(messages: Sequence[str]) -> str:
    """``utilerrors.Aggregate.Error()``: one message bare, several in brackets."""
    return messages[0] if len(messages) == 1 else "[" + ", ".join(messages) + "]"


def invalid_message(qualified_kind: str, name: str, errors: Sequence[FieldError]) -> str:
    """``apierrors.NewInvalid(...).Error()``: ``Pod "web" is invalid: [err1, err2]``.

    The API server names the kind with its group (``Deployment.apps``); kubectl rebuilds the text
    from the Status details as ``The Deployment "web" is invalid: ...``.
    """
    return f"{qualified_kind} {gofmt.quote(name)} is invalid: {aggregate([str(e) for e in dedupe(errors)])}"


Category = Literal["file", "yaml", "object", "decode", "invalid"]


@dataclass(frozen=True)
class LoadError:
    """One problem found while loading: where it is and what Kubernetes would say about it.

    ``category``: ``file`` (cannot read), ``yaml`` (syntax, duplicate keys), ``object`` (not a
    Kubernetes object: no apiVersion/kind), ``decode`` (strict decoding: unknown field, wrong
    type) or ``invalid`` (the API server's validation).
    """

    file: str
    line: int
    message: str
    category: Category
    kind: str | None = None
    name: str | None = None
    field: str | None = None
    field_error: FieldError | None = None
    object_line: int = 0  # where the object the error belongs to starts (0: not an object's)
    qualified: str | None = None  # GroupKind.String() when the kind is not a built-in one (a CR)

    def format(self) -> str:
        return f"{self.file}:{self.line}: {self.message}" if self.line else f"{self.file}: {self.message}"

    def __str__(self) -> str:
        return self.format()


@dataclass(frozen=True)
class LoadWarning:
    """Something kubectl and the API server accept silently but that is almost surely a mistake
    (a YAML key written twice: only the last value is applied). hitless's words, not Kubernetes'."""

    file: str
    line: int
    message: str

    def format(self) -> str:
        return f"{self.file}:{self.line}: warning: {self.message}"

    def __str__(self) -> str:
        return self.format()
