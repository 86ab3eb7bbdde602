"""Resolving a probe's or hook's port: a number, or the name of a container port.

pkg/probe/util.go ResolveContainerPort: a name that no container port has is tried as a
decimal number, then it is an error.
"""

from __future__ import annotations

from hitless.api.types.base import IntOrString
from hitless.api.types.pod import Container


class PortError(ValueError):
    pass


def resolve_port(port: IntOrString, container: Container) -> int:
    if isinstance(port, int):
        if 0 < port < 65536:
            return port
        raise PortError(f"invalid port number: {port}")
    named = container.port_by_name(port)
    if named is not None:
        return named
    if port.isdigit() and 0 < int(port) < 65536:
        return int(port)
    raise PortError(f"couldn't find port: {port} in {container.name}")
