"""The termination message from the container's log, for ``terminationMessagePolicy:
FallbackToLogsOnError``.

kubernetes/kubernetes pkg/kubelet/kuberuntime/kuberuntime_container.go: when a container
exited with a non-zero code and its termination-message file is empty or missing (a host
command has none), the kubelet takes the last 80 lines of its log, at most 2048 bytes
(readLastStringFromContainerLogs, MaxContainerTerminationMessageLogLines/Length).
"""

from __future__ import annotations

import dataclasses
from collections import deque
from pathlib import Path

from hitless.api.types.pod import Container
from hitless.runtime import cri

MAX_LOG_LINES = 80
MAX_LOG_BYTES = 2048


def with_log_fallback(spec: Container, status: cri.ContainerStatus) -> cri.ContainerStatus:
    """``status`` with the log's tail as its message where the policy asks for it."""
    if (
        spec.termination_message_policy != "FallbackToLogsOnError"
        or status.state is not cri.ContainerState.EXITED
        or not status.exit_code
        or status.reason in ("StartError", "ContainerCannotRun")
        or status.message
        or status.log_path is None
    ):
        return status
    tail = last_log_lines(status.log_path)
    return dataclasses.replace(status, message=tail) if tail else status


def last_log_lines(path: Path) -> str:
    """The content of the last lines of a CRI log file (both streams, in order), its last 2048
    bytes: what the kubelet's ReadLogs with TailLines 80 into a 2048-byte ring buffer gives."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = deque(f, maxlen=MAX_LOG_LINES)
    except OSError:
        return ""
    out = []
    for line in lines:
        parts = line.rstrip("\n").split(" ", 3)
        if len(parts) < 3:
            continue
        content = parts[3] if len(parts) == 4 else ""
        out.append(content + ("\n" if parts[2] == "F" else ""))
    data = "".join(out).encode()[-MAX_LOG_BYTES:]
    return data.decode("utf-8", "replace")
