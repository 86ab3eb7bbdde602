"""A DNS query in, the cluster DNS's reply out (wire format through dnspython).

Authoritative for the cluster zone and for reverse names of 127.0.0.0/8 (the addresses the
cluster hands out), as CoreDNS's ``kubernetes cluster.local in-addr.arpa`` block is; every other
name is REFUSED: CoreDNS would forward it upstream, and no query leaves this machine.
"""

from __future__ import annotations

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from hitless.dns.records import ClusterView, Lookup, Record

# CoreDNS kubernetes plugin's default ttl.
TTL = 5
REVERSE_ZONE = dns.name.from_text("127.in-addr.arpa.")
# What a UDP reply may hold without EDNS (RFC 1035).
UDP_SIZE = 512


def _soa(zone: dns.name.Name) -> dns.rrset.RRset:
    # CoreDNS's SOA for the zone (plugin/kubernetes, "ns.dns." + zone).
    return dns.rrset.from_text(
        zone,
        TTL,
        dns.rdataclass.IN,
        dns.rdatatype.SOA,
        f"ns.dns.{zone} hostmaster.{zone} 1 7200 1800 86400 {TTL}",
    )


def respond(query: dns.message.Message, view: ClusterView) -> dns.message.Message:
    reply = dns.message.make_response(query)
    reply.flags |= dns.flags.RA  # as CoreDNS sets it: it would recurse for outside names
    if query.opcode() != 0 or len(query.question) != 1:
        reply.set_rcode(dns.rcode.NOTIMP if query.opcode() != 0 else dns.rcode.FORMERR)
        return reply
    question = query.question[0]
    name, qtype = question.name, question.rdtype
    zone = dns.name.from_text(view.zone.rstrip(".") + ".")
    if name.is_subdomain(zone):
        labels = [label.decode("ascii", "replace").lower() for label in name.relativize(zone).labels]
        lookup = view.lookup([] if labels == ["@"] else labels)
    elif name.is_subdomain(REVERSE_ZONE):
        zone = REVERSE_ZONE
        lookup = _reverse(name, view)
    else:
        reply.set_rcode(dns.rcode.REFUSED)
        return reply
    reply.flags |= dns.flags.AA
    if not lookup.exists:
        reply.set_rcode(dns.rcode.NXDOMAIN)
        reply.authority.append(_soa(zone))
        return reply
    wanted = dns.rdatatype.to_text(qtype)
    for record in lookup.records:
        if qtype != dns.rdatatype.ANY and record.type_ != wanted and record.type_ != "CNAME":
            continue
        rrset = reply.find_rrset(
            reply.answer, name, dns.rdataclass.IN, dns.rdatatype.from_text(record.type_), create=True
        )
        rrset.update_ttl(TTL)
        rrset.add(dns.rdata.from_text(dns.rdataclass.IN, record.type_, record.value))
    if qtype == dns.rdatatype.SOA and name == zone:
        reply.answer.append(_soa(zone))
    if not reply.answer:
        reply.authority.append(_soa(zone))  # NODATA
    elif qtype in (dns.rdatatype.SRV, dns.rdatatype.ANY):
        for record in lookup.extra:
            owner = dns.name.from_text(record.name)
            rrset = reply.find_rrset(reply.additional, owner, dns.rdataclass.IN, dns.rdatatype.A, create=True)
            rrset.update_ttl(TTL)
            rrset.add(dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.A, record.value))
    return reply


def _reverse(name: dns.name.Name, view: ClusterView) -> Lookup:
    octets = [label.decode("ascii", "replace") for label in name.relativize(dns.name.root).labels[:-2]]
    if len(octets) != 4 or not all(o.isdigit() for o in octets):
        return Lookup(exists=len(octets) < 4)  # an empty non-terminal of the reverse zone
    ip = ".".join(reversed(octets))
    targets = view.reverse(ip)
    return Lookup(bool(targets), tuple(Record(str(name), "PTR", t) for t in targets))


def handle(wire: bytes, view: ClusterView, max_size: int | None = None) -> bytes | None:
    """A reply in wire format, or None for what cannot be parsed enough to answer. ``max_size``
    (UDP): the client's EDNS payload or 512; a longer reply is truncated (TC) so the client
    retries over TCP."""
    try:
        query = dns.message.from_wire(wire)
    except dns.exception.DNSException:
        return _formerr(wire)
    reply = respond(query, view)
    limit = 65535
    if max_size is not None:
        limit = max(UDP_SIZE, query.payload) if query.edns >= 0 else UDP_SIZE
    try:
        return reply.to_wire(max_size=limit)
    except dns.exception.TooBig:
        reply.answer.clear()
        reply.additional.clear()
        reply.flags |= dns.flags.TC
        return reply.to_wire(max_size=limit)


def _formerr(wire: bytes) -> bytes | None:
    if len(wire) < 12:
        return None
    # The header's id and opcode back, QR set, RCODE FORMERR, no sections.
    flags = 0x8000 | (wire[2] & 0x78) << 8 | dns.rcode.FORMERR
    return wire[:2] + flags.to_bytes(2, "big") + bytes(8)
