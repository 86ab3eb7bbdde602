"""What the API server's decoder and the conversion to the internal version do beyond the schema.

Go's JSON decoder base64-decodes ``[]byte`` fields (a Secret's ``data``, a ConfigMap's
``binaryData``), so a malformed value is a decoding error (``gobase64``); and the v1 → internal
conversion merges a Secret's ``stringData`` into ``data`` (pkg/apis/core/v1/conversion.go), before
validation sees it.
"""

from __future__ import annotations

from typing import Any

from hitless.api import gobase64
from hitless.api.fieldpath import Path


def convert(decoded: dict[str, Any], kind: str, api_version: str) -> tuple[Path, str] | None:
    """What the decoder and the conversion to the internal version do beyond the schema: base64
    of ``[]byte`` fields (a decoding error when malformed), a Secret's ``stringData`` merged into
    ``data`` (pkg/apis/core/v1/conversion.go). Returns (field path, decoder error) on failure."""
    if api_version != "v1" or kind not in ("Secret", "ConfigMap"):
        return None
    for key in ("data",) if kind == "Secret" else ("binaryData",):
        for k, v in sorted((decoded.get(key) or {}).items()):
            problem = gobase64.decode_error(v) if isinstance(v, str) else None
            if problem is not None:
                return Path().child(key).key(k), problem
    if kind == "Secret":
        string_data = decoded.pop("stringData", None)
        if string_data:
            data = decoded.get("data") or {}
            for k, v in string_data.items():
                data[k] = gobase64.encode((v or "").encode())
            decoded["data"] = data
    return None
