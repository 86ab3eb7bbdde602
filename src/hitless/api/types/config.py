"""core/v1 ConfigMap and Secret: what pods read through env and volumes.

``Secret.data`` holds base64 text as the API returns it; the decoded bytes come from
:meth:`Secret.decoded`. ``stringData`` is write-only: the API server merges it into ``data`` on
create and update and never returns it (pkg/apis/core/v1/conversion.go), which loading does.
"""

from __future__ import annotations

import base64

from hitless.api.types.meta import K8sObject


class ConfigMap(K8sObject):
    data: dict[str, str] | None = None
    binary_data: dict[str, str] | None = None  # base64, as the API returns it
    immutable: bool | None = None

    def files(self) -> dict[str, bytes]:
        """Every key's content as a mounted file holds it."""
        out = {k: v.encode() for k, v in (self.data or {}).items()}
        out.update({k: base64.b64decode(v) for k, v in (self.binary_data or {}).items()})
        return out


class Secret(K8sObject):
    data: dict[str, str] | None = None  # base64, as the API returns it
    type: str | None = None
    immutable: bool | None = None

    def decoded(self) -> dict[str, bytes]:
        return {k: base64.b64decode(v) for k, v in (self.data or {}).items()}
