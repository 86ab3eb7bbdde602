"""Helpers shared by several rules."""

from __future__ import annotations

from hitless.api.types.base import IntOrString
from hitless.api.types.pod import Container, Probe

PROBE_FIELDS = (
    ("livenessProbe", "liveness_probe"),
    ("readinessProbe", "readiness_probe"),
    ("startupProbe", "startup_probe"),
)


def probes(container: Container) -> list[tuple[str, Probe]]:
    """(JSON field name, probe) for each probe the container has."""
    out = []
    for json_name, attr in PROBE_FIELDS:
        probe = getattr(container, attr)
        if probe is not None:
            out.append((json_name, probe))
    return out


def probe_port(probe: Probe) -> tuple[str, IntOrString] | None:
    """(handler field, port) of a network probe."""
    if probe.http_get is not None:
        return "httpGet", probe.http_get.port
    if probe.tcp_socket is not None:
        return "tcpSocket", probe.tcp_socket.port
    if probe.grpc is not None:
        return "grpc", probe.grpc.port
    return None


def is_named(port: IntOrString) -> bool:
    return isinstance(port, str) and not port.isdigit()


def resolve(container: Container, port: IntOrString) -> int | None:
    """A probe's port as the kubelet resolves it (ResolveContainerPort): a number, a named
    container port, else a name that is a decimal string."""
    if isinstance(port, int):
        return port
    found = container.port_by_name(port)
    if found is not None:
        return found
    return int(port) if port.isdigit() else None


def declared(container: Container) -> set[int]:
    return {p.container_port for p in container.ports or []}


def handler_key(container: Container, probe: Probe) -> tuple[object, ...] | None:
    """What a probe checks, with named ports resolved (kube-score turns every name into 0)."""
    if probe.http_get is not None:
        g = probe.http_get
        headers = tuple((h.name.lower(), h.value) for h in g.http_headers or [])
        return ("http", g.scheme or "HTTP", g.host or "", resolve(container, g.port), g.path or "/", headers)
    if probe.tcp_socket is not None:
        return ("tcp", probe.tcp_socket.host or "", resolve(container, probe.tcp_socket.port))
    if probe.grpc is not None:
        return ("grpc", probe.grpc.port, probe.grpc.service or "")
    if probe.exec is not None:
        return ("exec", tuple(probe.exec.command or ()))
    return None
