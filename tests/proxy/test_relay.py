"""The relay and the dial over real loopback sockets: a half-close is passed on as a half-close, a
reset as a reset, a slow reader holds back a fast writer with nothing lost, and a failed or
timed-out dial resets the client and says why in the record."""

from __future__ import annotations

import asyncio
import hashlib
import random
import socket
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from hitless.clock import RealClock
from hitless.proxy.forward import forward
from hitless.proxy.listener import Listener
from hitless.proxy.records import ConnectionLog, ConnectionRecord
from hitless.proxy.relay import Relay
from hitless.runtime.fake import FakeRuntime
from hitless.runtime.network import PodNetwork


async def tcp_pair() -> tuple[socket.socket, socket.socket]:
    """A connected pair over loopback TCP: (the outside end, the end the relay owns)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        outside = socket.socket()
        outside.setblocking(False)
        await asyncio.get_running_loop().sock_connect(outside, listener.getsockname())
        inside, _ = listener.accept()
    inside.setblocking(False)
    return outside, inside


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


async def read_all(sock: socket.socket) -> bytes:
    loop = asyncio.get_running_loop()
    chunks = []
    while data := await loop.sock_recv(sock, 1 << 16):
        chunks.append(data)
    return b"".join(chunks)


@dataclass
class Relayed:
    client: socket.socket  # the client's own socket
    pod: socket.socket  # the upstream's own socket
    record: ConnectionRecord
    relay: Relay
    done: list[bool]


async def relayed() -> Relayed:
    client, accepted = await tcp_pair()
    pod, upstream = await tcp_pair()
    record = ConnectionLog().open(
        hop="proxy", node="n", service="default/web", port_name="", frontend="nodePort",
        client=("127.0.0.1", 1), accepted_at=0.0,
    )  # fmt: skip
    done: list[bool] = []
    relay = Relay(record, RealClock().now, lambda: done.append(True))
    relay.start(accepted, upstream)
    return Relayed(client, pod, record, relay, done)


async def test_half_close_is_passed_on_and_the_record_completed() -> None:
    loop = asyncio.get_running_loop()
    r = await relayed()
    await loop.sock_sendall(r.client, b"hello")
    r.client.shutdown(socket.SHUT_WR)
    assert await read_all(r.pod) == b"hello"  # the client's FIN reached the pod
    assert not r.done
    await loop.sock_sendall(r.pod, b"bye")  # the other way still flows after a half-close
    r.pod.close()
    assert await read_all(r.client) == b"bye"
    await until(lambda: bool(r.done))
    assert r.done == [True]
    assert (r.record.bytes_up, r.record.bytes_down) == (5, 3)
    assert r.record.closed_by == "client" and r.record.error == "" and r.record.closed_at is not None
    r.client.close()


async def test_a_reset_is_passed_on_as_a_reset() -> None:
    loop = asyncio.get_running_loop()
    r = await relayed()
    await loop.sock_sendall(r.client, b"GET")
    assert await loop.sock_recv(r.pod, 16) == b"GET"
    r.pod.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    r.pod.close()  # RST
    await until(lambda: bool(r.done))
    try:
        data = await loop.sock_recv(r.client, 16)
    except ConnectionResetError:
        data = None
    assert data is None, "the client saw an orderly close, not the pod's reset"
    assert r.record.error == "upstream reset" and r.record.closed_by == "upstream"
    r.client.close()


async def test_a_slow_reader_holds_back_a_fast_writer_and_nothing_is_lost() -> None:
    loop = asyncio.get_running_loop()
    r = await relayed()
    block = random.Random(7).randbytes(1 << 20)
    size = 64 * len(block)  # more than every socket buffer on the way can hold
    sent = hashlib.sha256()

    async def write() -> None:
        for _ in range(size // len(block)):
            await loop.sock_sendall(r.pod, block)
            sent.update(block)
        r.pod.shutdown(socket.SHUT_WR)

    writer = asyncio.ensure_future(write())
    upstream = r.relay._upstream
    assert upstream is not None
    # The client reads nothing yet: the relay stops reading the pod, so the pod's writes stall.
    await until(lambda: upstream.peer.pending is not None and not upstream.reading)
    assert not writer.done()
    received = hashlib.sha256()
    total = 0
    while data := await loop.sock_recv(r.client, 1 << 16):
        received.update(data)
        total += len(data)
    await writer
    assert total == size and received.digest() == sent.digest()
    assert r.record.bytes_down == size
    r.client.close()
    await until(lambda: bool(r.done))
    r.pod.close()


async def test_failed_dials_reset_the_client_and_say_why() -> None:
    clock = RealClock()
    network = PodNetwork(FakeRuntime(clock))
    log = ConnectionLog()
    closed: list[ConnectionRecord] = []
    log.listeners.append(closed.append)

    def no_task(coro: Coroutine[Any, Any, None]) -> None:
        coro.close()
        raise AssertionError("a loopback dial makes no task")

    @dataclass
    class Options:
        connect_timeout: float = 0.3
        unreachable_after: float = 3.0

    # A port with nobody listening: refused. A listener that drops SYNs: timed out.
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        refused_port = unused.getsockname()[1]
    dropping = Listener("127.0.0.1", 0, lambda conn, addr: conn.close())
    dropping.set_mode("drop")
    try:
        for port in (refused_port, dropping.port):
            client, accepted = await tcp_pair()
            record = log.open(
                hop="proxy", node="n", service="default/web", port_name="", frontend="nodePort",
                client=client.getsockname(), accepted_at=clock.now(),
            )  # fmt: skip
            forward(network, clock, Options(), log, accepted, "127.0.0.1", port, "127.0.0.1", record, no_task)
            await until(lambda record=record: record in closed)  # type: ignore[misc]
            try:
                data = await asyncio.get_running_loop().sock_recv(client, 16)
            except ConnectionResetError:
                data = None
            assert data is None
            client.close()
    finally:
        dropping.close()
    assert [(r.outcome, r.error) for r in closed] == [
        ("upstream-refused", "connection refused"),
        ("upstream-timeout", "i/o timeout"),
    ]
