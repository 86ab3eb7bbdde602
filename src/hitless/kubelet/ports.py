"""Resolving a probe's or an HTTP hook's port: a number, or the name of a container port.

pkg/probe/util.go ResolveContainerPort, which httpGet and tcpSocket probes and (through
NewRequestForHTTPGetAction, ConsistentHTTPGetHandlers) HTTP hooks use in 1.29–1.34: a name no
container port has is tried as a decimal number, so the error an unknown name gives is
strconv.Atoi's (``strconv.Atoi: parsing "metrics": invalid syntax``); API validation makes every
name contain a letter. (kubernetes PR 139791, after 1.34, drops that fallback and says
``port "metrics" not found`` instead.)
"""

from __future__ import annotations

import re

from hitless.api.gofmt import quote
from hitless.api.types.base import IntOrString
from hitless.api.types.pod import Container

_ATOI = re.compile(r"[+-]?[0-9]+")


class PortError(ValueError):
    pass


def resolve_probe_port(port: IntOrString, container: Container) -> int:
    if isinstance(port, int):
        number = port
    else:
        named = container.port_by_name(port)
        number = named if named is not None else _atoi(port)
    if 0 < number < 65536:
        return number
    raise PortError(f"invalid port number: {number}")


# HTTP hooks resolve their port exactly as probes do.
resolve_port = resolve_probe_port


def _atoi(text: str) -> int:
    """strconv.Atoi, with its errors."""
    if not _ATOI.fullmatch(text):
        raise PortError(f"strconv.Atoi: parsing {quote(text)}: invalid syntax")
    value = int(text)
    if not -(2**63) <= value < 2**63:
        raise PortError(f"strconv.Atoi: parsing {quote(text)}: value out of range")
    return value
