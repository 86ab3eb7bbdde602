"""A bug in one of the proxy's per-connection loop callbacks (the dial's, the relay's, the
accept's: callbacks, not tasks) stops the run naming the component, as a task's failure would,
instead of going to the loop's exception handler while the run goes on."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hitless.clock import RealClock
from hitless.dns.server import ClusterDNS
from hitless.proxy import podside
from hitless.proxy.forward import forward
from hitless.proxy.listener import Listener
from hitless.proxy.node import ProxyOptions
from hitless.proxy.podside import PodFrontends
from hitless.proxy.records import ConnectionLog
from hitless.proxy.relay import Relay
from hitless.runtime.fake import FakeProgram, FakeRuntime
from hitless.runtime.network import PodAttachment, PodNetwork
from hitless.store.store import Store
from hitless.tasks import _CURRENT, Supervisor, spawn


def boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("injected fault")


@pytest.fixture
async def supervisor() -> AsyncIterator[Supervisor]:
    supervisor = Supervisor()
    token = supervisor.activate()
    yield supervisor

    _CURRENT.reset(token)


async def upstream_server() -> tuple[asyncio.Server, int]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.read(100))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def forward_one(port: int, log: ConnectionLog) -> socket.socket:
    """Accept-side half of a connection (``conn``) forwarded to 127.0.0.1:port; the client half."""
    clock = RealClock()
    network = PodNetwork(FakeRuntime(clock, lambda config: FakeProgram()))
    client, conn = socket.socketpair()
    conn.setblocking(False)
    record = log.open(
        hop="proxy",
        node="node-1",
        service="default/web",
        port_name="",
        frontend="nodePort",
        client=("127.0.0.1", 1),
        accepted_at=clock.now(),
    )
    forward(
        network,
        clock,
        ProxyOptions(),
        log,
        conn,
        "127.0.0.1",
        port,
        "127.0.0.1",
        record,
        lambda coro: spawn("proxy node-1", coro),
        "proxy node-1",
    )
    return client


async def failed(supervisor: Supervisor) -> str:
    await asyncio.wait_for(supervisor.failed.wait(), 10)
    return supervisor.failures[0].component


async def test_a_relay_callback_fault_stops_the_run(
    supervisor: Supervisor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Relay, "_eof", boom)
    server, port = await upstream_server()
    async with server:
        client = forward_one(port, ConnectionLog())
        client.sendall(b"hello")
        client.shutdown(socket.SHUT_WR)
        assert await failed(supervisor) == "proxy node-1"
        assert "injected fault" in str(supervisor.failures[0].error)
        client.close()


async def test_a_dial_callback_fault_stops_the_run(
    supervisor: Supervisor, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing listens on the port: the connect's writable callback finds the refusal and logs
    # the connection as closed, which raises.
    monkeypatch.setattr(ConnectionLog, "closed", boom)
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    client = forward_one(port, ConnectionLog())
    assert await failed(supervisor) == "proxy node-1"
    client.close()


async def test_an_accept_callback_fault_stops_the_run(supervisor: Supervisor) -> None:
    listener = Listener("127.0.0.1", 0, boom)
    listener.set_mode("route")
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", listener.port)
        assert await failed(supervisor) == f"proxy listener 127.0.0.1:{listener.port}"
        writer.close()
    finally:
        listener.close()


class LoopbackNetwork:
    """Stands in for the pod's namespace: its sockets on the host's loopback."""

    async def listening_socket(self, sandbox_id: str, type: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, type)
        sock.bind(("127.0.0.1", 0))
        if type == socket.SOCK_STREAM:
            sock.listen()
        sock.setblocking(False)
        return sock


POD = PodAttachment(ip="127.244.0.9", sandbox_id="s", node="node-1")


async def test_a_pod_side_accept_fault_stops_the_run(
    supervisor: Supervisor, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if the pod's connection had been redirected from a ClusterIP; the proxy's accept raises.
    monkeypatch.setattr(podside, "original_destination", lambda conn: ("127.96.0.20", 80))
    frontends = PodFrontends("node-1", LoopbackNetwork(), boom)  # type: ignore[arg-type]
    redirects = await frontends.attach(POD)
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", redirects[-1].to_port)
        assert await failed(supervisor) == "proxy node-1"
        writer.close()
    finally:
        frontends.close()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_a_cluster_dns_fault_stops_the_run(
    supervisor: Supervisor, monkeypatch: pytest.MonkeyPatch, transport: str
) -> None:
    monkeypatch.setattr(ClusterDNS, "answer", boom)
    dns = ClusterDNS(Store(RealClock()), LoopbackNetwork(), "127.96.0.10")  # type: ignore[arg-type]
    redirects = await dns.attach(POD)
    port = next(r.to_port for r in redirects if r.protocol == transport)
    query = bytes(12)
    try:
        if transport == "udp":
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.sendto(query, ("127.0.0.1", port))
                assert await failed(supervisor) == "cluster-dns"
        else:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(len(query).to_bytes(2, "big") + query)
            assert await failed(supervisor) == "cluster-dns"
            writer.close()
    finally:
        dns.detach(POD.ip)
