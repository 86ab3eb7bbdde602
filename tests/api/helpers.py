"""Loading YAML written inline in a test, and reading the results back."""

from __future__ import annotations

import textwrap
from pathlib import Path

from hitless.api import LoadResult, load_text

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "manifests"


def load_yaml(text: str, file: str = "test.yaml") -> LoadResult:
    return load_text(textwrap.dedent(text).lstrip("\n"), file)


def messages(result: LoadResult) -> list[str]:
    return [e.message for e in result.errors]


def formatted(result: LoadResult) -> list[str]:
    return [e.format() for e in result.errors]


def pod(spec: str, name: str = "web", extra_meta: str = "") -> str:
    """A Pod manifest around an indented ``spec`` body."""
    body = textwrap.indent(textwrap.dedent(spec).strip("\n"), "  ")
    return f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n{extra_meta}spec:\n{body}\n"


def invalid(result: LoadResult, prefix: str = 'Pod "web" is invalid: ') -> list[str]:
    """The field errors of an invalid object, without the ``Pod "web" is invalid:`` prefix."""
    out = []
    for e in result.errors:
        assert e.message.startswith(prefix), e.message
        out.append(e.message[len(prefix) :])
    return out


# Upstream texts that many tests share, written out once (k8s.io/apimachinery/pkg/util/validation).
NAME_PART_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName' or 'my.name' or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue' or 'my_value' or '12345', regex used for "
    "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
    "and end with an alphanumeric character (e.g. 'my-name' or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
PORT_RANGE = "must be between 1 and 65535, inclusive"
