"""Label and field selectors of list and watch requests.

Labels: k8s.io/apimachinery/pkg/labels/selector.go's grammar (``a=b``, ``a==b``, ``a!=b``,
``a in (x,y)``, ``a notin (x)``, ``a``, ``!a``). Fields: fields/selector.go (``=``, ``==``,
``!=``), over the fields each kind's registry exposes (``pkg/registry/core/pod/strategy.go``
``ToSelectableFields`` and alike); any other field is refused as the API server refuses it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hitless.apiserver.status import ApiError, bad_request

Labels = dict[str, str]


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!"
    values: tuple[str, ...] = ()

    def matches(self, labels: Labels) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "=":
            return present and value == self.values[0]
        if self.op == "!=":
            return not present or value != self.values[0]
        if self.op == "in":
            return present and value in self.values
        if self.op == "notin":
            return not present or value not in self.values
        if self.op == "exists":
            return present
        return not present


_SET_RE = re.compile(
    r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*(?:(in|notin)\s*\(([^)]*)\)|(==|=|!=)\s*([A-Za-z0-9_.-]*))?\s*$"
)


def _split_terms(text: str) -> list[str]:
    terms, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += ch
    terms.append(current)
    return [t for t in terms if t.strip()]


def parse_labels(text: str | None) -> list[Requirement]:
    if not text:
        return []
    out = []
    for term in _split_terms(text):
        m = _SET_RE.match(term)
        if m is None:
            raise bad_request(f"unable to parse requirement: found '{term.strip()}', expected: identifier")
        bang, key, set_op, set_values, op, value = m.groups()
        if bang:
            if set_op or op:
                raise bad_request(f"unable to parse requirement: found '{term.strip()}'")
            out.append(Requirement(key, "!"))
        elif set_op:
            values = tuple(v.strip() for v in (set_values or "").split(",") if v.strip())
            out.append(Requirement(key, set_op, values))
        elif op:
            out.append(Requirement(key, "!=" if op == "!=" else "=", (value or "",)))
        else:
            out.append(Requirement(key, "exists"))
    return out


def labels_match(requirements: list[Requirement], labels: Labels | None) -> bool:
    labels = labels or {}
    return all(r.matches(labels) for r in requirements)


def _get(obj: dict[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_COMMON = ("metadata.name", "metadata.namespace")
# What each kind's registry makes selectable, and where in the object it is.
_FIELDS: dict[str, dict[str, str]] = {
    "Pod": {
        "spec.nodeName": "spec.nodeName",
        "spec.restartPolicy": "spec.restartPolicy",
        "spec.schedulerName": "spec.schedulerName",
        "spec.serviceAccountName": "spec.serviceAccountName",
        "spec.hostNetwork": "spec.hostNetwork",
        "status.phase": "status.phase",
        "status.podIP": "status.podIP",
        "status.nominatedNodeName": "status.nominatedNodeName",
    },
    "Event": {
        "involvedObject.kind": "involvedObject.kind",
        "involvedObject.namespace": "involvedObject.namespace",
        "involvedObject.name": "involvedObject.name",
        "involvedObject.uid": "involvedObject.uid",
        "involvedObject.apiVersion": "involvedObject.apiVersion",
        "involvedObject.resourceVersion": "involvedObject.resourceVersion",
        "involvedObject.fieldPath": "involvedObject.fieldPath",
        "reason": "reason",
        "reportingComponent": "reportingComponent",
        "source": "source.component",
        "type": "type",
    },
    "Node": {"spec.unschedulable": "spec.unschedulable"},
    "Namespace": {"status.phase": "status.phase"},
    "Secret": {"type": "type"},
    "ReplicaSet": {"status.replicas": "status.replicas"},
    "Job": {"status.successful": "status.succeeded"},
}


@dataclass(frozen=True)
class FieldRequirement:
    path: str
    negate: bool
    value: str


def parse_fields(text: str | None, kind: str) -> list[FieldRequirement]:
    if not text:
        return []
    allowed = _FIELDS.get(kind, {})
    out = []
    for term in text.split(","):
        if not term:
            continue
        for op in ("!=", "==", "="):
            if op in term:
                field, value = term.split(op, 1)
                break
        else:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
        if field in _COMMON:
            path = field
        elif field in allowed:
            path = allowed[field]
        else:
            raise bad_request(f"field label not supported: {field}")
        out.append(FieldRequirement(path, op == "!=", value))
    return out


def fields_match(requirements: list[FieldRequirement], obj: dict[str, Any]) -> bool:
    for r in requirements:
        value = _get(obj, r.path)
        if r.path == "status.phase" and not value and obj.get("kind") == "Pod":
            value = ""
        if (value == r.value) == r.negate:
            return False
    return True


@dataclass(frozen=True)
class Selector:
    labels: list[Requirement]
    fields: list[FieldRequirement]

    @classmethod
    def parse(cls, label_text: str | None, field_text: str | None, kind: str) -> Selector:
        return cls(parse_labels(label_text), parse_fields(field_text, kind))

    @property
    def empty(self) -> bool:
        return not self.labels and not self.fields

    def matcher(self, to_json: Callable[[], dict[str, Any]], labels: Labels | None) -> bool:
        if not labels_match(self.labels, labels):
            return False
        return not self.fields or fields_match(self.fields, to_json())


__all__ = ["ApiError", "Selector"]
