"""What the API server allocates when a Service is created: cluster IPs, node ports and the
health-check node port (``pkg/registry/core/service/storage/alloc.go``, ``ipallocator``,
``portallocator``), with the allocators' error messages.

The service CIDR is 127.96.0.0/12 instead of a cluster's 10.96.0.0/12, so that every cluster IP
is a loopback address the host can reach. Node ports come from the default
``--service-node-port-range`` 30000-32767. Like upstream, a requested value is taken from the
whole range and a dynamic one is picked at random, first from the upper band (the lower band is
kept for requests, KEP-3668). The random source takes the engine's seed, so that a seeded run
repeats, and two unseeded hitless on one machine do not pick the same addresses.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable

from hitless.api import errors as fe
from hitless.api.errors import FieldError
from hitless.api.fieldpath import Path
from hitless.api.gofmt import GoLiteral, quote
from hitless.api.types.service import Service

SERVICE_CIDR = ipaddress.ip_network("127.96.0.0/12")
NODE_PORT_RANGE = (30000, 32767)
# The cluster DNS's address, the range's .10 as kube-dns's clusterIP is on a cluster; held from
# the start, as kube-dns's Service holds it (dns/server.py answers there).
CLUSTER_DNS_IP = str(SERVICE_CIDR.network_address + 10)


class Invalid(ValueError):
    """The API server's 422: ``Service "web" is invalid: ...``."""

    def __init__(self, service: Service, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__(fe.invalid_message("Service", service.name, errors))


def _static_band(size: int) -> int:
    # calculateRangeOffset: min(max(16, size/32), 128) (KEP-3070 / KEP-3668).
    return min(max(16, size // 32), 128)


class ServiceAllocator:
    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        self._ips: set[str] = set()
        self._ports: set[int] = set()
        # Network and broadcast addresses are never handed out (ipallocator).
        self._first = int(SERVICE_CIDR.network_address) + 1
        self._last = int(SERVICE_CIDR.broadcast_address) - 1
        self._ips.add(CLUSTER_DNS_IP)
        # Whether a socket on the host already listens on a node port (at a node's address or the
        # wildcard), where the nodes' proxies could not listen: a dynamic port skips it, as the
        # API server's allocator retries a taken one. Set by the engine (proxy/owner.py).
        self.host_listens: Callable[[int], bool] = lambda port: False

    # --- cluster IPs --------------------------------------------------------------------------

    def _allocate_ip(self) -> str:
        size = self._last - self._first + 1
        offset = _static_band(size)
        # The dynamic band first (a random start, then the next free address), then the static one.
        for low, high in ((self._first + offset, self._last), (self._first, self._first + offset - 1)):
            start = self._rng.randint(low, high)
            for value in list(range(start, high + 1)) + list(range(low, start)):
                ip = str(ipaddress.ip_address(value))
                if ip not in self._ips:
                    self._ips.add(ip)
                    return ip
        raise RuntimeError("range is full")

    def _request_ip(self, ip: str) -> str | None:
        """None when taken; else an error detail, or "" when allocated."""
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return f"failed to allocate IP {ip}: not a valid IP address"
        if address not in SERVICE_CIDR or not self._first <= int(address) <= self._last:
            return (
                f"failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. "
                f"The range of valid IPs is {SERVICE_CIDR}"
            )
        if ip in self._ips:
            return f"failed to allocate IP {ip}: provided IP is already allocated"
        self._ips.add(ip)
        return ""

    # --- node ports ---------------------------------------------------------------------------

    def _allocate_port(self) -> int:
        low, high = NODE_PORT_RANGE
        offset = _static_band(high - low + 1)
        for band_low, band_high in ((low + offset, high), (low, low + offset - 1)):
            start = self._rng.randint(band_low, band_high)
            for port in list(range(start, band_high + 1)) + list(range(band_low, start)):
                if port not in self._ports and not self.host_listens(port):
                    self._ports.add(port)
                    return port
        raise RuntimeError("range is full")

    def _request_port(self, port: int) -> str:
        low, high = NODE_PORT_RANGE
        if not low <= port <= high:
            return f"provided port is not in the valid range. The range of valid ports is {low}-{high}"
        if port in self._ports:
            return "provided port is already allocated"
        self._ports.add(port)
        return ""

    # --- the Service --------------------------------------------------------------------------

    def allocate(self, service: Service) -> None:
        """Fill in ``clusterIP(s)``, ``nodePort`` and ``healthCheckNodePort`` in place, or raise
        :class:`Invalid` having allocated nothing."""
        spec = service.spec
        kind = spec.type or "ClusterIP"
        taken_ips: list[str] = []
        taken_ports: list[int] = []
        errors: list[FieldError] = []
        spec_path = Path.new("spec")
        try:
            if kind != "ExternalName" and spec.cluster_ip != "None":
                if spec.cluster_ip:
                    detail = self._request_ip(spec.cluster_ip)
                    if detail:
                        value = GoLiteral("[]string{" + quote(spec.cluster_ip) + "}")
                        errors.append(fe.invalid(spec_path.child("clusterIPs"), value, detail))
                        raise Invalid(service, errors)
                    taken_ips.append(spec.cluster_ip)
                else:
                    spec.cluster_ip = self._allocate_ip()
                    taken_ips.append(spec.cluster_ip)
                spec.cluster_ips = [spec.cluster_ip]
            wants_node_ports = kind == "NodePort" or (
                kind == "LoadBalancer" and spec.allocate_load_balancer_node_ports is not False
            )
            for i, port in enumerate(spec.ports or []):
                if not wants_node_ports:
                    continue
                if port.node_port:
                    detail = self._request_port(port.node_port)
                    if detail:
                        path = spec_path.child("ports").index(i).child("nodePort")
                        errors.append(fe.invalid(path, port.node_port, detail))
                        raise Invalid(service, errors)
                else:
                    port.node_port = self._allocate_port()
                taken_ports.append(port.node_port)
            if kind == "LoadBalancer" and spec.external_traffic_policy == "Local":
                if spec.health_check_node_port:
                    detail = self._request_port(spec.health_check_node_port)
                    if detail:
                        path = spec_path.child("healthCheckNodePort")
                        detail = (
                            f"failed to allocate requested HealthCheck NodePort "
                            f"{spec.health_check_node_port}: {detail}"
                        )
                        errors.append(fe.invalid(path, spec.health_check_node_port, detail))
                        raise Invalid(service, errors)
                else:
                    spec.health_check_node_port = self._allocate_port()
                taken_ports.append(spec.health_check_node_port)
        except Invalid:
            self._ips.difference_update(taken_ips)
            self._ports.difference_update(taken_ports)
            raise

    def keep(self, current: Service, new: Service) -> None:
        """An update keeps what was allocated when the new object leaves it out (as an apply does)."""
        if not new.spec.cluster_ip and current.spec.cluster_ip:
            new.spec.cluster_ip = current.spec.cluster_ip
            new.spec.cluster_ips = list(current.spec.cluster_ips or [current.spec.cluster_ip])
        wants_health_check = new.spec.type == "LoadBalancer" and new.spec.external_traffic_policy == "Local"
        if wants_health_check and not new.spec.health_check_node_port:
            new.spec.health_check_node_port = current.spec.health_check_node_port
        old_ports = {(p.name or "", p.port): p.node_port for p in current.spec.ports or []}
        for port in new.spec.ports or []:
            if not port.node_port and new.spec.type in ("NodePort", "LoadBalancer"):
                port.node_port = old_ports.get((port.name or "", port.port))

    def release(self, service: Service) -> None:
        for ip in service.spec.cluster_ips or ([service.spec.cluster_ip] if service.spec.cluster_ip else []):
            self._ips.discard(ip)
        for port in service.spec.ports or []:
            if port.node_port:
                self._ports.discard(port.node_port)
        if service.spec.health_check_node_port:
            self._ports.discard(service.spec.health_check_node_port)
