"""Kubernetes field paths (``k8s.io/apimachinery/pkg/util/validation/field.Path``).

A path renders exactly as the API server renders it in messages: children joined by ``.``, list
indexes and map keys in brackets (``spec.containers[0].name``, ``metadata.annotations[a/b]``).
It also keeps its segments, so that the loader can find the YAML line of a path without parsing
the string back (map keys may contain dots).
"""

from __future__ import annotations

import re
from typing import Literal

Segment = str | int
_Kind = Literal["child", "index", "key"]


class Path:
    __slots__ = ("_elems",)

    def __init__(self, elems: tuple[tuple[_Kind, Segment], ...] = ()) -> None:
        self._elems = elems

    @classmethod
    def new(cls, *names: str) -> Path:
        return cls(tuple(("child", n) for n in names))

    def child(self, name: str, *more: str) -> Path:
        if not more:  # nearly every call; validation makes tens of thousands of paths
            return Path((*self._elems, ("child", name)))
        return Path((*self._elems, ("child", name), *(("child", m) for m in more)))

    def index(self, i: int) -> Path:
        return Path((*self._elems, ("index", i)))

    def key(self, k: str) -> Path:
        return Path((*self._elems, ("key", k)))

    @property
    def segments(self) -> tuple[Segment, ...]:
        """Children and map keys as strings, list indexes as ints: the shape of the YAML tree."""
        return tuple(v for _, v in self._elems)

    def __str__(self) -> str:
        out: list[str] = []
        for i, (kind, value) in enumerate(self._elems):
            if kind == "child":
                if i:
                    out.append(".")
                out.append(str(value))
            else:
                out.append(f"[{value}]")
        return "".join(out)

    def __repr__(self) -> str:
        return f"Path({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Path) and self._elems == other._elems

    def __hash__(self) -> int:
        return hash(self._elems)

    def startswith(self, other: Path) -> bool:
        return self._elems[: len(other._elems)] == other._elems


_TOKEN = re.compile(r"\[([^\]]*)\]|([^.\[\]]+)")


def parse(path: str) -> tuple[Segment, ...]:
    """Segments of a rendered path: ``spec.containers[0].name`` -> ``("spec", "containers", 0, "name")``.

    A dotted map key (``metadata.labels.app.kubernetes.io/name``) cannot be told apart from nested
    fields; callers that hold a ``Path`` should use its ``segments`` instead.
    """
    out: list[Segment] = []
    for bracket, name in _TOKEN.findall(path.lstrip(".")):
        if name:
            out.append(name)
        elif bracket.isdigit():
            out.append(int(bracket))
        else:
            out.append(bracket)
    return tuple(out)
