"""apps/v1 ControllerRevision: an immutable snapshot of a StatefulSet's or DaemonSet's template.

Fields in the order of ``k8s.io/api/apps/v1/types.go``. ``data`` is a RawExtension: the JSON the
controller wrote (a strategic-merge patch restoring ``spec.template``), kept verbatim.
"""

from __future__ import annotations

from typing import Any

from hitless.api.types.meta import K8sObject


class ControllerRevision(K8sObject):
    api_version: str = "apps/v1"
    kind: str = "ControllerRevision"
    data: dict[str, Any] | None = None
    revision: int = 0
