"""Whether an address a Service asks for is free on this host, and who holds it if not.

A Service's fixed ``clusterIP`` or ``nodePort`` becomes a listening socket of a node's proxy. If
another process (or another hitless) already listens there, or on the wildcard address of that
port, the proxy cannot bind it, and a client that dials it reaches that other listener: a run
that announced the address anyway would measure someone else's server. So ``hitless up`` and
``hitless verify`` check those addresses before anything starts, and refuse, naming the holder
from ``/proc/net/tcp`` (the socket's inode) and ``/proc/*/fd`` (the process holding that inode),
as ``ss -ltnp`` finds it. Run before the engine enters its own PID namespace, where the host's
processes are out of sight.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from hitless.api.types.service import Service

_LISTEN = "0A"


# The wildcard addresses in /proc/net/tcp and tcp6 (a dual-stack [::] listener takes IPv4 too).
_ANY = {"00000000", "0" * 32}


def _listening_inodes(ip: str | None, port: int) -> list[int]:
    """Inodes of the TCP sockets listening on ip:port or on the wildcard address of port (only
    the wildcard when ``ip`` is None)."""
    return _listening_inodes_any([] if ip is None else [ip], port)


def host_listens(ips: Iterable[str], port: int) -> bool:
    """Whether a socket on this host listens on ``port`` at one of ``ips`` or the wildcard."""
    return bool(_listening_inodes_any(ips, port))


def _listening_inodes_any(ips: Iterable[str], port: int) -> list[int]:
    wanted = set(_ANY) | {socket.inet_aton(ip)[::-1].hex().upper() for ip in ips}
    inodes = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != _LISTEN:
                continue
            address, _, hex_port = fields[1].partition(":")
            if int(hex_port, 16) == port and address in wanted:
                inodes.append(int(fields[9]))
    return inodes


def listener_owner(ip: str | None, port: int) -> str | None:
    """'pid 123 (nginx)' for the process listening on ip:port (or *:port), if it can be found."""
    inodes = set(_listening_inodes(ip, port))
    return process_holding(inodes) if inodes else None


def process_holding(socket_inodes: set[int]) -> str:
    """'pid 123 (nginx)' for the first process holding one of these sockets (by inode)."""
    inodes = {f"socket:[{inode}]" for inode in socket_inodes}
    for pid in sorted((p for p in os.listdir("/proc") if p.isdigit()), key=int):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target in inodes:
                try:
                    comm = Path(f"/proc/{pid}/comm").read_text().strip()
                except OSError:
                    comm = "?"
                return f"pid {pid} ({comm})"
    return "a process hitless cannot see (another user's, or outside its PID namespace)"


class AddressInUse(Exception):
    """A frontend could not listen on its address: another process holds it, and a client would
    reach that process. Not a fault of hitless: the run stops with exit 2 (``exit_code``)."""

    exit_code = 2


def bind_error(ip: str, port: int) -> str | None:
    """None when the engine could listen on ip:port; else why not, naming the holder if it can."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the proxy's own listener binds (listener.py).
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((ip, port))
            probe.listen(1)
        except OSError as exc:
            message = f"listen tcp4 {ip}:{port}: bind: {os.strerror(exc.errno or 0).lower()}"
            if exc.errno == errno.EADDRINUSE and (owner := listener_owner(ip, port)) is not None:
                message += f"; held by {owner}"
            return message
    return None


@dataclass(frozen=True)
class Conflict:
    service: Service
    field: str  # the field path, e.g. spec.ports[0].nodePort
    value: int | str
    reason: str

    def format(self) -> str:
        # The API server's words for a taken address, with what holds it on this host.
        if self.field.endswith("].port"):
            return (
                f'Service "{self.service.name}" cannot be served here: {self.field}: {self.value}: '
                f"its cluster IP would not get the connections ({self.reason})"
            )
        return (
            f'Service "{self.service.name}" is invalid: {self.field}: Invalid value: {self.value}: '
            f"provided port is already allocated on this host ({self.reason})"
            if self.field.endswith("nodePort")
            else f'Service "{self.service.name}" is invalid: {self.field}: Invalid value: "{self.value}": '
            f"provided IP is already allocated on this host ({self.reason})"
        )


def address_conflicts(services: Iterable[Service], node_addresses: list[str]) -> list[Conflict]:
    """The fixed clusterIPs and nodePorts of ``services`` that another listener holds here, and
    the ports of the others that a wildcard listener (0.0.0.0 or [::]) holds: whatever cluster
    IP is allocated, that listener would take its connections.

    A clusterIP is served on the first node (the host's), a nodePort on every node's address.
    """
    conflicts = []
    for service in services:
        spec = service.spec
        kind = spec.type or "ClusterIP"
        if kind == "ExternalName":
            continue
        for i, port in enumerate(spec.ports or []):
            if (port.protocol or "TCP") != "TCP":
                continue
            fixed_ip = spec.cluster_ip if spec.cluster_ip and spec.cluster_ip != "None" else None
            if fixed_ip and (reason := bind_error(fixed_ip, port.port)) is not None:
                conflicts.append(Conflict(service, "spec.clusterIP", fixed_ip, reason))
            elif not spec.cluster_ip and _listening_inodes(None, port.port):
                owner = listener_owner(None, port.port) or "another process"
                reason = f"a listener on the wildcard address of port {port.port}, held by {owner}"
                conflicts.append(Conflict(service, f"spec.ports[{i}].port", port.port, reason))
            if port.node_port and kind in ("NodePort", "LoadBalancer"):
                for address in node_addresses:
                    if (reason := bind_error(address, port.node_port)) is not None:
                        conflicts.append(
                            Conflict(service, f"spec.ports[{i}].nodePort", port.node_port, reason)
                        )
                        break
    return conflicts
