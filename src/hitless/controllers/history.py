"""ControllerRevisions: the stored history of a StatefulSet's or DaemonSet's pod template.

After pkg/controller/history/controller_history.go (ControllerRevisionName,
HashControllerRevision, NewControllerRevision, EqualRevision, FindEqualRevisions,
SortControllerRevisions) and the two controllers' ``getPatch``: a revision's ``data`` is the
strategic-merge patch ``{"spec": {"template": {..., "$patch": "replace"}}}`` of the owner's
template, which is what two revisions are compared by.
"""

from __future__ import annotations

import json
from typing import Any

from hitless.api.types.controllerrevision import ControllerRevision
from hitless.api.types.meta import K8sObject, ObjectMeta
from hitless.controllers.controller_utils import fnv32a, new_controller_ref, safe_encode

CONTROLLER_REVISION_HASH = "controller-revision-hash"  # apps.ControllerRevisionHashLabelKey


def get_patch(owner: K8sObject) -> dict[str, Any]:
    """getPatch (stateful_set_utils.go, daemon/update.go): the template, to be put back whole."""
    template = owner.to_json()["spec"]["template"]
    return {"spec": {"template": {**template, "$patch": "replace"}}}


def _raw(data: dict[str, Any] | None) -> bytes:
    # Go's json.Marshal of a map: keys sorted, no spaces.
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def hash_revision(data: dict[str, Any] | None, collision_count: int | None) -> str:
    """HashControllerRevision: fnv32a of the raw data, then the collision count, safe-encoded."""
    raw = _raw(data)
    if collision_count is not None:
        raw += (collision_count & 0xFFFFFFFF).to_bytes(4, "little")
    return safe_encode(str(fnv32a(raw)))


def revision_name(prefix: str, hash_: str) -> str:
    """ControllerRevisionName: the prefix cut to 223 characters, so that the name fits 253."""
    return f"{prefix[:223]}-{hash_}"


def new_revision(
    owner: K8sObject,
    template_labels: dict[str, str] | None,
    data: dict[str, Any],
    revision: int,
    collision_count: int | None,
) -> ControllerRevision:
    """NewControllerRevision: the template's labels plus the hash label, owned by ``owner``."""
    hash_ = hash_revision(data, collision_count)
    return ControllerRevision(
        metadata=ObjectMeta(
            name=revision_name(owner.name, hash_),
            namespace=owner.namespace,
            labels={**(template_labels or {}), CONTROLLER_REVISION_HASH: hash_},
            owner_references=[new_controller_ref(owner)],
        ),
        data=data,
        revision=revision,
    )


def equal_revision(a: ControllerRevision | None, b: ControllerRevision | None) -> bool:
    """EqualRevision: the same hash label and the same data."""
    if a is None or b is None:
        return a is b
    la, lb = a.metadata.labels or {}, b.metadata.labels or {}
    if la.get(CONTROLLER_REVISION_HASH) != lb.get(CONTROLLER_REVISION_HASH):
        return False
    return _raw(a.data) == _raw(b.data)


def find_equal_revisions(
    revisions: list[ControllerRevision], needle: ControllerRevision
) -> list[ControllerRevision]:
    return [r for r in revisions if equal_revision(r, needle)]


def sort_revisions(revisions: list[ControllerRevision]) -> list[ControllerRevision]:
    """SortControllerRevisions: by revision number, then creation time, then name."""
    return sorted(
        revisions,
        key=lambda r: (
            r.revision,
            r.metadata.creation_timestamp.timestamp() if r.metadata.creation_timestamp else 0.0,
            r.name,
        ),
    )


def next_revision(revisions: list[ControllerRevision]) -> int:
    """nextRevision: one more than the highest (revisions are sorted)."""
    return revisions[-1].revision + 1 if revisions else 1
