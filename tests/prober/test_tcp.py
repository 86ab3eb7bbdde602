"""tcpSocket probes: a connection opened and closed at once, or Go's dial error."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

from hitless.kubelet.prober.probers.base import ProbeOutcome, ProberDeps
from hitless.kubelet.prober.probers.tcp import TCPProber
from hitless.kubelet.prober.results import Result

from .conftest import probe, target


async def run(
    deps: ProberDeps, timeout: float = 2.0, container: dict[str, Any] | None = None, **tcp: Any
) -> ProbeOutcome:
    return await TCPProber(deps).probe(probe(tcpSocket=tcp), target(container), timeout)


async def test_open_port_is_success_and_nothing_is_sent(deps: ProberDeps) -> None:
    received: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.read())  # until the prober closes
        writer.close()

    srv = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        assert await run(deps, port=port) == ProbeOutcome(Result.SUCCESS)
        container = {"ports": [{"name": "db", "containerPort": port}]}
        assert await run(deps, port="db", container=container) == ProbeOutcome(Result.SUCCESS)
        for _ in range(100):
            if len(received) == 2:
                break
            await asyncio.sleep(0.01)
        assert received == [b"", b""]
    finally:
        srv.close()


async def test_a_listener_that_never_accepts_is_still_success(deps: ProberDeps) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        assert await run(deps, port=listener.getsockname()[1]) == ProbeOutcome(Result.SUCCESS)


async def test_refused(deps: ProberDeps, free_port: int) -> None:
    assert await run(deps, port=free_port) == ProbeOutcome(
        Result.FAILURE, f"dial tcp 127.0.0.1:{free_port}: connect: connection refused"
    )


async def test_connect_timeout(deps: ProberDeps, full_listener: int) -> None:
    started = time.monotonic()
    outcome = await run(deps, timeout=0.3, port=full_listener)
    assert 0.25 < time.monotonic() - started < 2
    assert outcome == ProbeOutcome(Result.FAILURE, f"dial tcp 127.0.0.1:{full_listener}: i/o timeout")


async def test_host_and_port_errors(deps: ProberDeps) -> None:
    assert await run(deps, port=5432, host="192.0.2.1") == ProbeOutcome(
        Result.FAILURE, "dial tcp 192.0.2.1:5432: hitless only dials pod IPs and 127.0.0.0/8"
    )
    assert await run(deps, port="db") == ProbeOutcome(
        Result.UNKNOWN, error='strconv.Atoi: parsing "db": invalid syntax'
    )
    assert await run(deps, port=0) == ProbeOutcome(Result.UNKNOWN, error="invalid port number: 0")
