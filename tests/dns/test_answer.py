"""The cluster DNS's answers, message in, message out (no sockets), against CoreDNS's
kubernetes plugin."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from hitless.dns.answer import TTL, handle, respond
from hitless.dns.records import ClusterView
from tests.proxy.helpers import endpoint, endpoint_slice, service

ZONE = "svc.cluster.local."


def view() -> ClusterView:
    v = ClusterView()
    web = service("web", cluster_ip="127.96.4.5")
    db = service("db", port=5432, target=5432, cluster_ip="None")
    ext = service("ext", type_="ExternalName", external_name="example.com")
    for svc in (web, db, ext):
        v.services[(svc.namespace, svc.name)] = svc
    ready = endpoint("db-0", "127.244.0.7", "node-1")
    ready.hostname = "db-0"
    unready = endpoint("db-1", "127.244.0.8", "node-1", ready=False)
    unready.hostname = "db-1"
    anonymous = endpoint("x", "127.244.0.9", "node-2")
    v.slices[("default", "db-abcde")] = endpoint_slice("db", 5432, [ready, unready, anonymous])
    return v


def ask(name: str, qtype: str = "A", v: ClusterView | None = None) -> dns.message.Message:
    return respond(dns.message.make_query(name, qtype), v or view())


def answers(reply: dns.message.Message) -> list[str]:
    return sorted(rd.to_text() for rrset in reply.answer for rd in rrset)


def test_a_service_name_is_its_cluster_ip_with_coredns_ttl() -> None:
    reply = ask(f"web.default.{ZONE}")
    assert reply.rcode() == dns.rcode.NOERROR and reply.flags & dns.flags.AA
    assert answers(reply) == ["127.96.4.5"]
    assert reply.answer[0].ttl == TTL == 5
    # Case does not matter, the question is echoed as asked.
    assert answers(ask("WEB.Default.SVC.cluster.local.")) == ["127.96.4.5"]


def test_a_headless_service_is_its_ready_endpoints_and_each_has_its_hostname() -> None:
    assert answers(ask(f"db.default.{ZONE}")) == ["127.244.0.7", "127.244.0.9"]
    assert answers(ask(f"db-0.db.default.{ZONE}")) == ["127.244.0.7"]
    # Without a hostname, an endpoint is named by its dashed address.
    assert answers(ask(f"127-244-0-9.db.default.{ZONE}")) == ["127.244.0.9"]
    # Not ready: not published, so the name does not exist.
    assert ask(f"db-1.db.default.{ZONE}").rcode() == dns.rcode.NXDOMAIN


def test_publish_not_ready_addresses_publishes_unready_endpoints() -> None:
    v = view()
    v.services[("default", "db")].spec.publish_not_ready_addresses = True
    assert answers(ask(f"db-1.db.default.{ZONE}", v=v)) == ["127.244.0.8"]


def test_srv_for_named_ports_with_targets_and_their_addresses() -> None:
    reply = ask(f"_http._tcp.web.default.{ZONE}", "SRV")
    assert answers(reply) == [f"0 100 80 web.default.{ZONE}"]
    headless = ask(f"_http._tcp.db.default.{ZONE}", "SRV")
    assert answers(headless) == [
        f"0 50 5432 127-244-0-9.db.default.{ZONE}",
        f"0 50 5432 db-0.db.default.{ZONE}",
    ]
    assert sorted(rd.to_text() for rrset in headless.additional for rd in rrset) == [
        "127.244.0.7",
        "127.244.0.9",
    ]
    assert ask(f"_grpc._tcp.web.default.{ZONE}", "SRV").rcode() == dns.rcode.NXDOMAIN


@pytest.mark.parametrize(
    "name",
    [
        f"nope.default.{ZONE}",
        f"web.otherns.{ZONE}",
        f"a.b.web.default.{ZONE}",
        "web.cluster.local.",
        "x.cluster.local.",
    ],
)
def test_cluster_names_that_do_not_exist_are_nxdomain_with_the_zone_soa(name: str) -> None:
    reply = ask(name)
    assert reply.rcode() == dns.rcode.NXDOMAIN and not reply.answer
    assert reply.authority[0].rdtype == dns.rdatatype.SOA


def test_existing_names_without_that_type_are_nodata() -> None:
    for name, qtype in ((f"web.default.{ZONE}", "AAAA"), (f"default.{ZONE}", "A"), (ZONE, "A")):
        reply = ask(name, qtype)
        assert reply.rcode() == dns.rcode.NOERROR and not reply.answer, name
        assert reply.authority[0].rdtype == dns.rdatatype.SOA


def test_outside_names_are_refused() -> None:
    for name in ("example.com.", "web.default.svc.cluster.local.example.com.", "1.0.0.10.in-addr.arpa."):
        assert ask(name).rcode() == dns.rcode.REFUSED, name


def test_external_name_is_a_cname_and_pod_names_are_their_address() -> None:
    assert answers(ask(f"ext.default.{ZONE}")) == ["example.com."]
    assert answers(ask("127-244-1-2.default.pod.cluster.local.")) == ["127.244.1.2"]


def test_ptr_for_cluster_ips_and_headless_endpoints() -> None:
    assert answers(ask("5.4.96.127.in-addr.arpa.", "PTR")) == [f"web.default.{ZONE}"]
    assert answers(ask("7.0.244.127.in-addr.arpa.", "PTR")) == [f"db-0.db.default.{ZONE}"]
    assert ask("9.9.9.127.in-addr.arpa.", "PTR").rcode() == dns.rcode.NXDOMAIN


def test_wire_truncation_and_garbage() -> None:
    v = ClusterView()
    db = service("db", cluster_ip="None")
    v.services[("default", "db")] = db
    many = [endpoint(f"p{i}", f"127.244.1.{i}", "node-1") for i in range(1, 60)]
    v.slices[("default", "db-x")] = endpoint_slice("db", 80, many)
    query = dns.message.make_query(f"db.default.{ZONE}", "A")
    udp = dns.message.from_wire(handle(query.to_wire(), v, max_size=512) or b"")
    assert udp.flags & dns.flags.TC and not udp.answer  # the client retries over TCP
    tcp = dns.message.from_wire(handle(query.to_wire(), v) or b"")
    assert len(answers(tcp)) == 59
    garbage = handle(b"\x12\x34" + bytes(10) + b"\xff", v)
    assert garbage is not None and garbage[:2] == b"\x12\x34" and garbage[3] & 0xF == dns.rcode.FORMERR
