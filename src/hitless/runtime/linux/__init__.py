"""The Linux process runtime: pods as namespaces, containers as PID 1 of their own PID namespace.

``enter_engine_namespaces()`` (called by the CLI before the event loop starts) puts the engine
in a PID namespace of its own so that nothing it starts outlives it; ``LinuxRuntime`` is the
:class:`~hitless.runtime.cri.RuntimeService` built on real processes.
"""

from hitless.runtime.linux.bootstrap import (
    EngineNamespaces,
    NamespacesUnavailable,
    current,
    enter_engine_namespaces,
)
from hitless.runtime.linux.logs import CriLogRecord, parse_cri_line, read_cri_log
from hitless.runtime.linux.lookup import ExecutableError
from hitless.runtime.linux.runtime import LinuxRuntime, Tools

__all__ = [
    "CriLogRecord",
    "EngineNamespaces",
    "ExecutableError",
    "LinuxRuntime",
    "NamespacesUnavailable",
    "Tools",
    "current",
    "enter_engine_namespaces",
    "parse_cri_line",
    "read_cri_log",
]
