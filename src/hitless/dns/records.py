"""What the cluster's names mean, as CoreDNS's kubernetes plugin answers them (coredns/coredns
plugin/kubernetes: kubernetes.go ``Records``/``findServices``/``findPods``, parse.go, reverse.go),
from Services and EndpointSlices alone:

- ``svc.ns.svc.<zone>``: the ClusterIP; for a headless Service every ready endpoint's address
  (the EndpointSlice controller already marks endpoints ready under publishNotReadyAddresses);
  for an ExternalName Service a CNAME.
- ``host.svc.ns.svc.<zone>``: a headless Service's endpoint by its hostname (a pod whose
  ``hostname`` and ``subdomain`` are set, e.g. a StatefulSet's) or by its dashed address.
- ``_port._proto.svc.ns.svc.<zone>`` (and the Service's own name): SRV for named ports.
- ``a-b-c-d.ns.pod.<zone>``: that address (``pods insecure``, CoreDNS's default config).
- PTR for cluster IPs and headless endpoints.

Any other name under the zone does not exist; an empty non-terminal (``svc.<zone>``, a
namespace's ``ns.svc.<zone>``) exists with no records.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from hitless.api.types.discovery import EndpointSlice
from hitless.api.types.service import Service

Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Record:
    """One resource record: ``type_`` "A", "CNAME", "SRV" or "PTR", ``value`` in zone-file form."""

    name: str  # the owner, absolute, lower case ("backend.default.svc.cluster.local.")
    type_: str
    value: str


@dataclass(frozen=True, slots=True)
class Lookup:
    exists: bool
    records: tuple[Record, ...] = ()
    # A records of SRV targets (the additional section).
    extra: tuple[Record, ...] = ()


@dataclass
class ClusterView:
    """The Services and EndpointSlices the DNS server last saw (its informers' caches)."""

    zone: str = "cluster.local"
    services: dict[Key, Service] = field(default_factory=dict)
    slices: dict[Key, EndpointSlice] = field(default_factory=dict)

    # --- forward names -------------------------------------------------------------------------

    def lookup(self, labels: list[str]) -> Lookup:
        """``labels``: the name below the zone, leftmost first, lower case."""
        if len(labels) <= 1:
            return Lookup(exists=labels in ([], ["svc"], ["pod"]))
        kind = labels[-1]
        if kind == "pod":
            return self._pod(labels[:-1])
        if kind != "svc":
            return Lookup(False)
        rest = labels[:-1]
        if len(rest) == 1:
            return Lookup(exists=any(ns == rest[0] for ns, _ in self.services))
        svc = self.services.get((rest[-1], rest[-2]))
        if svc is None:
            return Lookup(False)
        if len(rest) == 2:
            return self._service(svc)
        if len(rest) == 3:
            return self._endpoint(svc, rest[0])
        if len(rest) == 4 and rest[0].startswith("_") and rest[1].startswith("_"):
            return self._srv(svc, rest[0][1:], rest[1][1:])
        return Lookup(False)

    def fqdn(self, svc: Service, *prefix: str) -> str:
        return ".".join([*prefix, svc.name, svc.namespace, "svc", self.zone]) + "."

    def endpoints(self, svc: Service) -> list[tuple[str, str]]:
        """A headless Service's published endpoints: (address, the label naming it)."""
        out: dict[str, str] = {}
        for slice_ in self.slices.values():
            if slice_.namespace != svc.namespace or slice_.service_name != svc.name:
                continue
            for endpoint in slice_.endpoints:
                if not (endpoint.is_ready or svc.spec.publish_not_ready_addresses):
                    continue
                for address in endpoint.addresses[:1]:
                    out.setdefault(address, endpoint.hostname or address.replace(".", "-"))
        return sorted(out.items())

    def _service(self, svc: Service) -> Lookup:
        name = self.fqdn(svc)
        spec = svc.spec
        if spec.type == "ExternalName":
            target = (spec.external_name or "").rstrip(".") + "."
            return Lookup(True, (Record(name, "CNAME", target),))
        records: list[Record] = []
        if spec.cluster_ip and spec.cluster_ip != "None":
            records.append(Record(name, "A", spec.cluster_ip))
        else:
            records += [Record(name, "A", ip) for ip, _ in self.endpoints(svc)]
        srv = self._srv(svc, None, None)
        return Lookup(True, tuple(records + list(srv.records)), srv.extra)

    def _endpoint(self, svc: Service, label: str) -> Lookup:
        if svc.spec.cluster_ip not in (None, "None"):
            return Lookup(False)
        found = [Record(self.fqdn(svc, label), "A", ip) for ip, host in self.endpoints(svc) if host == label]
        return Lookup(bool(found), tuple(found))

    def _srv(self, svc: Service, port_name: str | None, protocol: str | None) -> Lookup:
        """SRV for the named ports (``None``: any), to the ClusterIP's name or each endpoint's."""
        ports = [
            p
            for p in svc.spec.ports or []
            if p.name
            and (port_name is None or p.name == port_name)
            and (protocol is None or (p.protocol or "TCP").lower() == protocol)
        ]
        if not ports or svc.spec.type == "ExternalName":
            return Lookup(port_name is None)
        headless = svc.spec.cluster_ip in (None, "None")
        targets = (
            [(self.fqdn(svc, host), ip) for ip, host in self.endpoints(svc)]
            if headless
            else [(self.fqdn(svc), "")]
        )
        records: list[Record] = []
        extra: list[Record] = []
        for port in ports:
            owner = self.fqdn(svc, f"_{port.name}", f"_{(port.protocol or 'TCP').lower()}")
            if port_name is None:
                owner = self.fqdn(svc)
            weight = 100 // max(1, len(targets))
            for target, ip in targets:
                records.append(Record(owner, "SRV", f"0 {weight} {port.port} {target}"))
                if ip:
                    extra.append(Record(target, "A", ip))
        return Lookup(True, tuple(records), tuple(dict.fromkeys(extra)))

    def _pod(self, rest: list[str]) -> Lookup:
        if len(rest) == 1:
            return Lookup(exists=True)  # a namespace's pod subdomain
        if len(rest) != 2:
            return Lookup(False)
        try:
            ip = ipaddress.IPv4Address(rest[0].replace("-", "."))
        except ValueError:
            return Lookup(False)
        name = ".".join([*rest, "pod", self.zone]) + "."
        return Lookup(True, (Record(name, "A", str(ip)),))

    # --- reverse names -------------------------------------------------------------------------

    def reverse(self, ip: str) -> list[str]:
        """PTR targets of ``ip``: the Service whose cluster IP it is, or a headless Service's
        endpoint with that address."""
        found: list[str] = []
        for svc in self.services.values():
            if svc.spec.cluster_ip == ip:
                found.append(self.fqdn(svc))
            elif svc.spec.cluster_ip in (None, "None"):
                found += [self.fqdn(svc, host) for address, host in self.endpoints(svc) if address == ip]
        return sorted(set(found))
