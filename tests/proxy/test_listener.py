"""A frontend's socket: route, drop and refuse as a client meets them, and no one else's to share."""

from __future__ import annotations

import asyncio
import errno
import socket
import time

import pytest

from hitless.proxy.listener import Listener

ADDRESS = "127.0.9.77"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((ADDRESS, 0))
        return int(s.getsockname()[1])


async def connect(port: int, timeout: float) -> str:
    """'connected', 'refused' or 'timeout', as a client sees the frontend."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setblocking(False)
    try:
        await asyncio.wait_for(loop.sock_connect(sock, (ADDRESS, port)), timeout)
        return "connected"
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "timeout"
    finally:
        sock.close()


async def test_route_drop_refuse_and_back() -> None:
    accepted: list[tuple[str, int]] = []
    port = free_port()
    listener = Listener(ADDRESS, port, lambda conn, addr: (accepted.append(addr), conn.close()))
    assert await connect(port, 1) == "refused"
    for _ in range(2):  # and again: each switch leaves the listener as usable as before
        listener.set_mode("route")
        assert await connect(port, 1) == "connected"
        await asyncio.sleep(0.05)
        listener.set_mode("drop")
        assert await connect(port, 0.5) == "timeout"
        listener.set_mode("route")
        assert await connect(port, 1) == "connected"
        await asyncio.sleep(0.05)
        listener.set_mode("refuse")
        assert await connect(port, 1) == "refused"
    # Only the clients' connections reached on_accept: never the drop state's own.
    assert len(accepted) == 4
    listener.close()


async def test_a_dropping_listener_does_not_spin_the_loop() -> None:
    port = free_port()
    listener = Listener(ADDRESS, port, lambda conn, addr: conn.close())
    listener.set_mode("route")
    listener.set_mode("drop")
    cpu = time.process_time()
    await asyncio.sleep(0.5)
    assert time.process_time() - cpu < 0.2  # the queued filler must not wake the loop over and over
    listener.close()


async def test_no_other_socket_can_share_the_frontend() -> None:
    port = free_port()
    listener = Listener(ADDRESS, port, lambda conn, addr: conn.close())
    listener.set_mode("route")
    other = socket.socket()
    other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    with pytest.raises(OSError) as exc:
        other.bind((ADDRESS, port))
    assert exc.value.errno == errno.EADDRINUSE
    other.close()
    listener.close()


def test_a_second_engine_takes_the_next_free_address_blocks() -> None:
    from hitless.proxy.claims import claim_address_block
    from hitless.proxy.health import PROXY_HEALTHZ_PORT

    nodes, balancers, claim = claim_address_block()
    assert (nodes.rsplit(".", 2)[0], int(balancers.split(".")[2]) - int(nodes.split(".")[2])) == ("127.0", 1)
    claim.release()  # a hitless from before claims: only its listener tells
    held = socket.socket()  # what the first engine's node-1 proxy holds while it runs
    held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    held.bind((nodes + "1", PROXY_HEALTHZ_PORT))
    held.listen()
    try:
        second = claim_address_block()
        assert second[0] != nodes and second[1] != balancers and second[1] != nodes
        second[2].release()
    finally:
        held.close()
