"""Kubernetes' own formatting of durations and pods in messages."""

from __future__ import annotations

from hitless.api.types.pod import Pod


def go_duration(seconds: float) -> str:
    """time.Duration.String(): 10s, 1m20s, 5m0s, 1.5s, 0s."""
    if seconds == 0:
        return "0s"
    negative = seconds < 0
    seconds = abs(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    secs_text = f"{secs:.9f}".rstrip("0").rstrip(".")
    if hours:
        text = f"{int(hours)}h{int(minutes)}m{secs_text}s"
    elif minutes:
        text = f"{int(minutes)}m{secs_text}s"
    else:
        text = f"{secs_text}s"
    return ("-" if negative else "") + text


def format_pod(pod: Pod) -> str:
    """pkg/kubelet/util/format.Pod: name_namespace(uid)."""
    return f"{pod.name}_{pod.namespace}({pod.metadata.uid})"


def container_field_path(pod: Pod, name: str) -> str:
    """The fieldPath of a container's Events: spec.containers{web} or spec.initContainers{init}."""
    for c in pod.spec.init_containers or []:
        if c.name == name:
            return f"spec.initContainers{{{name}}}"
    return f"spec.containers{{{name}}}"
