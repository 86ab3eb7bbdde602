"""The server's view follows the store: a Service created, its slice changed, the Service deleted."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import dns.message
import dns.rcode

from hitless.clock import FakeClock
from hitless.dns.server import ClusterDNS
from hitless.runtime.fake import FakeRuntime
from hitless.runtime.network import PodNetwork
from hitless.store.allocator import CLUSTER_DNS_IP
from hitless.store.store import Store
from tests.proxy.helpers import endpoint, endpoint_slice, service


async def until(predicate: Callable[[], bool]) -> None:
    for _ in range(1000):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("not reached")


async def test_answers_follow_the_watch() -> None:
    clock = FakeClock()
    store = Store(clock)
    server = ClusterDNS(store, PodNetwork(FakeRuntime(clock)), CLUSTER_DNS_IP)
    server.start()

    def ask(name: str) -> dns.message.Message:
        wire = server.answer(dns.message.make_query(name, "A").to_wire(), udp=True)
        assert wire is not None
        return dns.message.from_wire(wire)

    def addresses(name: str) -> list[str]:
        return sorted(rd.to_text() for rrset in ask(name).answer for rd in rrset)

    try:
        store.create(service("db", cluster_ip="None"))
        store.create(endpoint_slice("db", 80, [endpoint("db-0", "127.244.0.7", "node-1")], "db-x"))
        await until(lambda: addresses("db.default.svc.cluster.local.") == ["127.244.0.7"])
        store.delete("Service", "default", "db")
        await until(lambda: ask("db.default.svc.cluster.local.").rcode() == dns.rcode.NXDOMAIN)
    finally:
        await server.stop()
