"""Node proxies over real sockets: routing, SNAT vs the client's address, refuse vs drop, an
established connection kept, the health-check node port. Backends are plain loopback servers
(stand-ins for pod IPs); nodes live at 127.0.9.N so that no other test's engine is disturbed."""

from __future__ import annotations

import asyncio
import json
import random
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from hitless.api.types.service import Service
from hitless.clock import RealClock
from hitless.proxy.node import NodeProxy, ProxyOptions
from hitless.proxy.records import ConnectionLog
from hitless.runtime.fake import FakeRuntime
from hitless.runtime.network import PodNetwork
from hitless.store.store import Store
from tests.proxy.helpers import endpoint, endpoint_slice, service

BACKEND_PORT = 18080


@dataclass
class Env:
    clock: RealClock
    store: Store
    log: ConnectionLog
    proxies: list[NodeProxy]

    async def until(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = self.clock.now() + timeout
        while not predicate():
            assert self.clock.now() < deadline, "condition not reached"
            await asyncio.sleep(0.01)


async def backend(ip: str) -> asyncio.Server:
    """Says who it sees as the peer, then echoes."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(f"{writer.get_extra_info('peername')[0]}\n".encode())
        while data := await reader.read(1024):
            writer.write(data)
        writer.close()

    return await asyncio.start_server(handle, ip, BACKEND_PORT, reuse_address=True)


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    clock = RealClock()
    store = Store(clock)
    log = ConnectionLog()
    network = PodNetwork(FakeRuntime(clock))
    proxies = [
        NodeProxy(
            f"node-{i}",
            f"127.0.9.{i}",
            clock,
            store,
            network,
            log,
            ProxyOptions(propagation_delay=0.05, healthz_port=0),
            rng=random.Random(i),
        )
        for i in (1, 2)
    ]
    for p in proxies:
        p.start()
    servers = [await backend("127.250.0.2"), await backend("127.250.0.3")]
    yield Env(clock, store, log, proxies)
    for p in proxies:
        await p.stop()
    for s in servers:
        s.close()


def node_port(svc: Service) -> int:
    port = (svc.spec.ports or [])[0].node_port
    assert port
    return port


async def dial(
    ip: str, port: int, source: str = "127.0.0.1", timeout: float = 5.0
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(asyncio.open_connection(ip, port, local_addr=(source, 0)), timeout)


async def test_cluster_snats_and_local_keeps_the_client_address(env: Env) -> None:
    cluster = env.store.create(service("cluster", "NodePort", target=BACKEND_PORT))
    local = env.store.create(service("local", "NodePort", target=BACKEND_PORT, externalTrafficPolicy="Local"))
    for name in ("cluster", "local"):
        env.store.create(
            endpoint_slice(name, BACKEND_PORT, [endpoint("b", "127.250.0.3", "node-2")], f"{name}-x")
        )
    await env.until(lambda: all(p.syncs >= 2 for p in env.proxies) and len(env.log.syncs) >= 4)
    await asyncio.sleep(0.1)
    # Cluster, through node-1: the pod lives on node-2 and sees node-1's address.
    reader, writer = await dial("127.0.9.1", node_port(cluster), source="127.0.0.77")
    assert (await reader.readline()).decode().strip() == "127.0.9.1"
    writer.close()
    # Local, through node-2 (the pod's node): the pod sees the client's own address.
    reader, writer = await dial("127.0.9.2", node_port(local), source="127.0.0.77")
    assert (await reader.readline()).decode().strip() == "127.0.0.77"
    writer.write(b"ping")
    assert await reader.readexactly(4) == b"ping"
    writer.close()
    await env.until(lambda: sum(1 for r in env.log.records if r.closed_at is not None) == 2)
    first, second = env.log.records
    assert (first.node, first.pod, first.outcome, first.frontend) == (
        "node-1",
        "default/b",
        "routed",
        "nodePort",
    )
    assert first.upstream is not None and first.upstream[0] == "127.0.9.1"
    assert (
        first.client[0] == "127.0.0.77" and second.upstream is not None and second.upstream[0] == "127.0.0.77"
    )
    assert second.bytes_up == 4 and second.bytes_down > 4 and second.closed_by == "client"


async def test_refuse_without_endpoints_drop_without_local_ones(env: Env) -> None:
    refusing = env.store.create(service("none", "NodePort", target=BACKEND_PORT))
    local = env.store.create(service("local", "NodePort", target=BACKEND_PORT, externalTrafficPolicy="Local"))
    env.store.create(
        endpoint_slice("local", BACKEND_PORT, [endpoint("b", "127.250.0.3", "node-2")], "local-x")
    )
    await env.until(lambda: len([s for s in env.log.syncs if s.service == "default/local"]) >= 2)
    await asyncio.sleep(0.1)
    with pytest.raises(ConnectionRefusedError):
        await dial("127.0.9.1", node_port(refusing))
    # node-1 has no local endpoint while node-2 has one: DROP, the connect times out.
    with pytest.raises(TimeoutError):
        await dial("127.0.9.1", node_port(local), timeout=1.5)
    reader, writer = await dial("127.0.9.2", node_port(local))
    assert await reader.readline()
    writer.close()


async def test_established_connection_stays_on_its_endpoint(env: Env) -> None:
    svc = env.store.create(service("web", "NodePort", target=BACKEND_PORT))
    slice_ = env.store.create(
        endpoint_slice("web", BACKEND_PORT, [endpoint("a", "127.250.0.2", "node-1")], "web-x")
    )
    await env.until(lambda: any(s.used for s in env.log.syncs if s.node == "node-1"))
    reader, writer = await dial("127.0.9.1", node_port(svc))
    assert await reader.readline()
    gone = slice_.copy_deep()
    gone.endpoints = []
    env.store.update(gone)
    await env.until(lambda: [s for s in env.log.syncs if s.node == "node-1"][-1].used == ())
    await asyncio.sleep(0.1)
    with pytest.raises(ConnectionRefusedError):
        await dial("127.0.9.1", node_port(svc))
    writer.write(b"still here")
    assert await reader.readexactly(10) == b"still here"
    writer.close()


async def test_a_connection_queued_before_a_sync_keeps_the_endpoint_it_met(env: Env) -> None:
    # The kernel completed the handshake while node-2 routed to its local pod; the loop had not
    # accepted it yet when the sync left node-2 with no local endpoint (DROP). It got through
    # under the old rules, as with iptables' DNAT at the SYN: it reaches the pod, not a reset
    # (which verify blamed as "no usable endpoint", capacity, in a Local Service's rollout).
    svc = env.store.create(service("local", "NodePort", target=BACKEND_PORT, externalTrafficPolicy="Local"))
    slice_ = env.store.create(
        endpoint_slice("local", BACKEND_PORT, [endpoint("b", "127.250.0.3", "node-2")], "local-x")
    )
    node2 = env.proxies[1]
    await env.until(lambda: any(s.used for s in env.log.syncs if s.node == "node-2"))
    loop = asyncio.get_running_loop()
    with socket.socket() as client:
        client.settimeout(5)
        client.connect(("127.0.9.2", node_port(svc)))  # in the queue, not accepted yet
        client.setblocking(False)
        elsewhere = slice_.copy_deep()
        elsewhere.endpoints = [endpoint("a", "127.250.0.2", "node-1")]
        node2.slices[("default", "local-x")] = elsewhere
        node2.sync()  # with no await in between: the loop never saw the connection
        assert node2.frontends[("127.0.9.2", node_port(svc))].mode == "drop"
        answer = await asyncio.wait_for(loop.sock_recv(client, 64), 5)
    assert answer.decode().strip() == "127.0.0.1"
    [record] = [r for r in env.log.records if r.node == "node-2"]
    assert (record.pod, record.outcome) == ("default/b", "routed")


async def test_health_check_node_port(env: Env) -> None:
    svc = env.store.create(service("lb", "LoadBalancer", target=BACKEND_PORT, externalTrafficPolicy="Local"))
    env.store.create(endpoint_slice("lb", BACKEND_PORT, [endpoint("b", "127.250.0.3", "node-2")], "lb-x"))
    await env.until(lambda: len([s for s in env.log.syncs if s.service == "default/lb"]) >= 2)
    port = svc.spec.health_check_node_port
    assert port

    async def get(ip: str) -> tuple[int, dict[str, object], bytes]:
        reader, writer = await dial(ip, port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        head, _, body = (await reader.read(-1)).partition(b"\r\n\r\n")
        writer.close()
        return int(head.split(b" ")[1]), json.loads(body), head

    status, body, head = await get("127.0.9.1")
    assert status == 503 and body["localEndpoints"] == 0 and body["serviceProxyHealthy"] is True
    assert body["service"] == {"namespace": "default", "name": "lb"}
    assert b"Content-Type: application/json" in head and b"X-Content-Type-Options: nosniff" in head
    status, body, _ = await get("127.0.9.2")
    assert status == 200 and body["localEndpoints"] == 1


def test_sockets_are_loopback_only() -> None:
    # The frontends bind 127.x only; nothing here opens a socket elsewhere.
    assert socket.inet_aton("127.0.9.1")[0] == 127


async def test_serving_terminating_endpoints_only_while_no_ready_one_exists(env: Env) -> None:
    svc = env.store.create(service("web", "NodePort", target=BACKEND_PORT))
    terminating = endpoint("old", "127.250.0.2", "node-1", ready=False, serving=True, terminating=True)
    slice_ = env.store.create(
        endpoint_slice("web", BACKEND_PORT, [terminating, endpoint("new", "127.250.0.3", "node-2")], "web-x")
    )

    async def pods_reached(n: int) -> set[str]:
        before = len(env.log.records)
        for _ in range(n):
            reader, writer = await dial("127.0.9.1", node_port(svc))
            assert await reader.readline()
            writer.close()
        await env.until(lambda: len(env.log.records) == before + n)
        return {r.pod or "" for r in env.log.records[before:]}

    await env.until(lambda: any(s.used for s in env.log.syncs if s.node == "node-1"))
    await asyncio.sleep(0.1)
    # A ready endpoint exists: the serving-terminating one gets nothing.
    assert await pods_reached(12) == {"default/new"}
    only_old = slice_.copy_deep()
    only_old.endpoints = [terminating]
    env.store.update(only_old)
    await env.until(lambda: [s for s in env.log.syncs if s.node == "node-1"][-1].used[0].pod == "default/old")
    await asyncio.sleep(0.1)
    # None is ready: kube-proxy (KEP-1669) falls back to the serving-terminating one.
    assert await pods_reached(4) == {"default/old"}
