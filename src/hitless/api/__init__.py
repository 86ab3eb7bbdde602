"""The Kubernetes API, as hitless needs it: typed objects, loading, defaulting and validation.

``load(paths)`` reads manifests as ``kubectl apply -f`` and the API server would, and returns the
valid objects (typed and defaulted), the objects of kinds hitless does not run, every error
with its ``file:line`` and the message Kubernetes would give, and warnings for what Kubernetes
accepts silently but is almost surely a mistake (a YAML key written twice).
"""

from hitless.api.errors import ErrorType, FieldError, LoadError, LoadWarning, invalid_message
from hitless.api.fieldpath import Path
from hitless.api.loader import (
    SUPPORTED,
    LoadedObject,
    LoadResult,
    SourceMap,
    api_server_messages,
    load,
    load_text,
)

__all__ = [
    "SUPPORTED",
    "ErrorType",
    "FieldError",
    "LoadError",
    "LoadResult",
    "LoadWarning",
    "LoadedObject",
    "Path",
    "SourceMap",
    "api_server_messages",
    "invalid_message",
    "load",
    "load_text",
]
