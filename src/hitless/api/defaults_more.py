"""Defaults of the kinds beyond Pod, Deployment and Service that hitless relies on.

Sources: ``pkg/apis/core/v1/defaults.go`` (SetDefaults_Secret, SetDefaults_Namespace) and
``pkg/registry/core/namespace/strategy.go`` (PrepareForCreate: the ``kubernetes`` finalizer and
the ``Active`` phase).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Obj = dict[str, Any]

SECRET_TYPE_OPAQUE = "Opaque"
LABEL_METADATA_NAME = "kubernetes.io/metadata.name"


def default_secret(secret: Obj) -> None:
    if not secret.get("type"):
        secret["type"] = SECRET_TYPE_OPAQUE


def default_namespace(namespace: Obj) -> None:
    meta = namespace.setdefault("metadata", {})
    name = meta.get("name")
    if name:
        # Since 1.21 every namespace carries its name as a label, so that NetworkPolicies and
        # webhooks can select it.
        labels = meta.get("labels") or {}
        labels[LABEL_METADATA_NAME] = name
        meta["labels"] = labels
    spec = namespace.get("spec") or {}
    spec["finalizers"] = ["kubernetes"]
    namespace["spec"] = spec
    namespace["status"] = {"phase": "Active"}


OTHER_DEFAULTS: dict[str, Callable[[Obj], None]] = {
    "Secret": default_secret,
    "Namespace": default_namespace,
}
