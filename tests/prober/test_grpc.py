"""grpc probes against the canonical implementation: grpcio's grpc.health.v1 server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from hitless.kubelet.prober.probers.base import ProbeOutcome, ProberDeps
from hitless.kubelet.prober.probers.grpc import GRPCProber, duration, encode_timeout
from hitless.kubelet.prober.results import Result

from .conftest import probe, target

SERVING = health_pb2.HealthCheckResponse.SERVING


class SlowHealth(health.HealthServicer):
    """Answers SERVING after ``delay`` seconds, or not at all once the caller has gone."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.seen: list[tuple[dict[str, str], float | None]] = []

    def Check(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.seen.append((dict(context.invocation_metadata()), context.time_remaining()))
        end = time.monotonic() + self.delay
        while time.monotonic() < end and context.is_active():
            time.sleep(0.01)
        return health_pb2.HealthCheckResponse(status=SERVING)


@pytest.fixture
def grpc_server() -> Iterator[Callable[..., int]]:
    """``grpc_server(servicer or None)``: a grpcio server on 127.0.0.1; its port."""
    servers: list[grpc.Server] = []

    def start(servicer: health.HealthServicer | None) -> int:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        if servicer is not None:
            health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        servers.append(server)
        return port

    yield start
    for server in servers:
        server.stop(None).wait(5)


async def run(deps: ProberDeps, timeout: float = 2.0, **grpc_action: Any) -> ProbeOutcome:
    return await GRPCProber(deps).probe(probe(grpc=grpc_action), target(), timeout)


async def test_health_statuses(deps: ProberDeps, grpc_server: Callable[..., int]) -> None:
    servicer = health.HealthServicer()
    servicer.set("", SERVING)
    servicer.set("db", health_pb2.HealthCheckResponse.NOT_SERVING)
    servicer.set("cache", health_pb2.HealthCheckResponse.SERVICE_UNKNOWN)
    port = grpc_server(servicer)
    assert await run(deps, port=port) == ProbeOutcome(Result.SUCCESS, "service healthy")
    assert await run(deps, port=port, service="db") == ProbeOutcome(
        Result.FAILURE, 'service unhealthy (responded with "NOT_SERVING")'
    )
    assert await run(deps, port=port, service="cache") == ProbeOutcome(
        Result.FAILURE, 'service unhealthy (responded with "SERVICE_UNKNOWN")'
    )
    # grpcio answers an unknown service with NOT_FOUND and no message.
    assert await run(deps, port=port, service="nope") == ProbeOutcome(
        Result.FAILURE, "error: health rpc probe failed: rpc error: code = NotFound desc = "
    )


async def test_server_without_the_health_service(deps: ProberDeps, grpc_server: Callable[..., int]) -> None:
    port = grpc_server(None)
    assert await run(deps, port=port) == ProbeOutcome(
        Result.FAILURE,
        "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): "
        "Method not found!",
    )


async def test_what_the_server_sees(deps: ProberDeps, grpc_server: Callable[..., int]) -> None:
    servicer = SlowHealth(0)
    port = grpc_server(servicer)
    assert (await run(deps, timeout=5, port=port)).result is Result.SUCCESS
    ((metadata, remaining),) = servicer.seen
    assert metadata["user-agent"].startswith("kube-probe/1.34 grpc-go/")
    assert remaining is not None and 3 < remaining <= 5  # the probe's deadline, as grpc-timeout


async def test_slow_server(deps: ProberDeps, grpc_server: Callable[..., int]) -> None:
    port = grpc_server(SlowHealth(2))
    started = time.monotonic()
    assert await run(deps, timeout=0.3, port=port) == ProbeOutcome(
        Result.FAILURE, "timeout: health rpc did not complete within 300ms"
    )
    assert time.monotonic() - started < 1.5


async def test_nothing_listening_waits_for_the_deadline(deps: ProberDeps, free_port: int) -> None:
    started = time.monotonic()
    assert await run(deps, timeout=0.4, port=free_port) == ProbeOutcome(
        Result.FAILURE,
        f'timeout: failed to connect service "127.0.0.1:{free_port}" within 400ms: context deadline exceeded',
    )
    assert 0.35 < time.monotonic() - started < 1.5


async def test_a_server_that_does_not_speak_http2(deps: ProberDeps) -> None:
    async def http1(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
        writer.close()

    srv = await asyncio.start_server(http1, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        outcome = await run(deps, timeout=0.3, port=port)
    finally:
        srv.close()
    assert outcome == ProbeOutcome(
        Result.FAILURE,
        f'timeout: failed to connect service "127.0.0.1:{port}" within 300ms: context deadline exceeded',
    )


async def test_without_h2(deps: ProberDeps, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "h2.connection", None)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        outcome = await run(deps, port=s.getsockname()[1])
    assert outcome == ProbeOutcome(Result.UNKNOWN, error="grpc probes need the h2 package (pip install h2)")


def test_go_formats() -> None:
    assert [duration(s) for s in (1, 2.5, 60, 90, 0.3, 0.0015)] == [
        "1s",
        "2.5s",
        "1m0s",
        "1m30s",
        "300ms",
        "1.5ms",
    ]
    assert [encode_timeout(s) for s in (0, 0.05, 0.999873, 1, 250)] == [
        "0n",
        "50000000n",
        "999873u",
        "1000000u",
        "250000m",
    ]
