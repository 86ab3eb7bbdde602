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
from hitless.proxy.forward import forward
from hitless.proxy.listener import Listener
from hitless.proxy.node import ProxyOptions
from hitless.proxy.records import ConnectionLog
from hitless.proxy.relay import Relay
from hitless.runtime.fake import FakeProgram, FakeRuntime
from hitless.runtime.network import PodNetwork
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
