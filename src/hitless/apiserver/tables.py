"""``Table`` output for ``kubectl get``: the columns the API server prints for each kind.

Column definitions from pkg/printers/internalversion/printers.go (AddHandlers); every other kind
gets the default handler's NAME and AGE. The cells of each kind are in ``cells.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hitless.api.types.meta import K8sObject
from hitless.apiserver import cells

Cells = list[Any]
Json = dict[str, Any]

_NAME_DOC = (
    "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name automatically. "
    "Name is primarily intended for creation idempotence and configuration definition. Cannot be "
    "updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
_AGE_DOC = (
    "CreationTimestamp is a timestamp representing the server time when this object was created. "
    "It is not guaranteed to be set in happens-before order across separate operations. Clients "
    "may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the "
    "system. Read-only. Null for lists. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)


def _col(name: str, type_: str = "string", priority: int = 0, fmt: str = "", doc: str = "") -> Json:
    if not doc:
        doc = _NAME_DOC if name == "Name" else _AGE_DOC if name == "Age" else name
    return {"name": name, "type": type_, "format": fmt, "description": doc, "priority": priority}


NAME = _col("Name", fmt="name")
AGE = _col("Age")


# roleColumnDefinitions and roleBindingsColumnDefinitions.
_ROLE = [NAME, _col("Created At", "date", doc=_AGE_DOC)]
_ROLE_BINDING = [
    NAME,
    _col(
        "Role",
        doc="RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace. "
        "If the RoleRef cannot be resolved, the Authorizer must return an error. This field is immutable.",
    ),
    AGE,
    _col("Users", priority=1, doc="Users in the roleBinding"),
    _col("Groups", priority=1, doc="Groups in the roleBinding"),
    _col("ServiceAccounts", priority=1, doc="ServiceAccounts in the roleBinding"),
]
_TEMPLATE = [_col("Containers", priority=1), _col("Images", priority=1), _col("Selector", priority=1)]
COLUMNS: dict[str, list[Json]] = {
    "Pod": [
        NAME,
        _col("Ready"),
        _col("Status"),
        _col("Restarts"),
        AGE,
        _col("IP", priority=1),
        _col("Node", priority=1),
        _col("Nominated Node", priority=1),
        _col("Readiness Gates", priority=1),
    ],
    "Deployment": [
        NAME,
        _col("Ready"),
        _col("Up-to-date", "integer"),
        _col("Available", "integer"),
        AGE,
        *_TEMPLATE,
    ],
    "ReplicaSet": [
        NAME,
        _col("Desired", "integer"),
        _col("Current", "integer"),
        _col("Ready", "integer"),
        AGE,
        *_TEMPLATE,
    ],
    "Service": [
        NAME,
        _col("Type"),
        _col("Cluster-IP"),
        _col("External-IP"),
        _col("Port(s)"),
        AGE,
        _col("Selector", priority=1),
    ],
    "Node": [
        NAME,
        _col("Status"),
        _col("Roles"),
        AGE,
        _col("Version"),
        _col("Internal-IP", priority=1),
        _col("External-IP", priority=1),
        _col("OS-Image", priority=1),
        _col("Kernel-Version", priority=1),
        _col("Container-Runtime", priority=1),
    ],
    "Event": [
        _col("Last Seen"),
        _col("Type"),
        _col("Reason"),
        _col("Object"),
        _col("Subobject", priority=1),
        _col("Source", priority=1),
        _col("Message"),
        _col("First Seen", priority=1),
        _col("Count", "integer", priority=1),
        _col("Name", priority=1, fmt="name"),
    ],
    "Namespace": [NAME, _col("Status"), AGE],
    "StatefulSet": [NAME, _col("Ready"), AGE, _col("Containers", priority=1), _col("Images", priority=1)],
    "DaemonSet": [
        NAME,
        _col("Desired", "integer"),
        _col("Current", "integer"),
        _col("Ready", "integer"),
        _col("Up-to-date", "integer"),
        _col("Available", "integer"),
        _col("Node Selector"),
        AGE,
        *_TEMPLATE,
    ],
    "PodDisruptionBudget": [
        NAME,
        _col("Min Available"),
        _col("Max Unavailable"),
        _col("Allowed Disruptions", "integer"),
        AGE,
    ],
    "EndpointSlice": [NAME, _col("AddressType"), _col("Ports"), _col("Endpoints"), AGE],
    "ConfigMap": [NAME, _col("Data", "integer"), AGE],
    "Secret": [NAME, _col("Type"), _col("Data", "integer"), AGE],
    "Role": _ROLE,
    "ClusterRole": _ROLE,
    "RoleBinding": _ROLE_BINDING,
    "ClusterRoleBinding": _ROLE_BINDING,
}
_CELLS: dict[str, Callable[[Json, datetime], Cells]] = {
    "Deployment": cells.deployment,
    "ReplicaSet": cells.replicaset,
    "Service": cells.service,
    "Node": cells.node,
    "Event": cells.event,
    "Namespace": cells.namespace,
    "StatefulSet": cells.statefulset,
    "DaemonSet": cells.daemonset,
    "PodDisruptionBudget": cells.pdb,
    "EndpointSlice": cells.endpointslice,
    "ConfigMap": cells.configmap,
    "Secret": cells.secret,
    "Role": cells.role,
    "ClusterRole": cells.role,
    "RoleBinding": cells.role_binding,
    "ClusterRoleBinding": cells.role_binding,
}
DEFAULT_COLUMNS = [NAME, AGE]


def columns(kind: str) -> list[Json]:
    return COLUMNS.get(kind, DEFAULT_COLUMNS)


def row_cells(obj: K8sObject, data: Json, now: datetime | None = None) -> Cells:
    now = now or datetime.now(UTC)
    if obj.kind == "Pod":
        return cells.pod(obj, data, now)
    return _CELLS.get(obj.kind, cells.default)(data, now)


def row(obj: K8sObject, data: Json, include_object: str, now: datetime | None = None) -> Json:
    """A row, with the object as ``includeObject`` asks: Object, Metadata (the default) or None."""
    out: Json = {"cells": row_cells(obj, data, now)}
    if include_object == "Object":
        out["object"] = data
    elif include_object != "None":
        out["object"] = {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": data.get("metadata") or {},
        }
    return out


def table(kind: str, rows: list[Json], resource_version: str, with_columns: bool = True) -> Json:
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": columns(kind) if with_columns else None,
        "rows": rows,
    }
