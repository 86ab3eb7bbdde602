"""The load generator against a real server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket

import pytest

from hitless.clock import RealClock
from hitless.verify.generator import LoadGenerator, LoadOptions

from .servers import Behaviour, TestServer


async def run_load(server: TestServer, rate: float, duration: float, **options: object) -> LoadGenerator:
    gen = LoadGenerator(LoadOptions(host="127.0.0.1", port=server.port, rate=rate, **options), RealClock())  # type: ignore[arg-type]
    await gen.run(duration=duration)
    await gen.drain(timeout=10)
    return gen


@pytest.fixture
async def server() -> TestServer:
    s = TestServer()
    await s.start()
    yield s  # type: ignore[misc]
    await s.close()


async def test_keepalive_sends_at_the_rate_and_reuses_connections(server: TestServer) -> None:
    gen = await run_load(server, rate=200, duration=1.0)
    results = gen.results
    assert len(results) == 200
    assert all(r.status == 200 for r in results), {r.outcome for r in results}
    assert server.requests == 200
    # Intended times are exactly 1/rate apart, from the start: an open-loop schedule.
    assert gen.started is not None
    assert all(abs(r.intended - (gen.started + r.seq / 200)) < 1e-9 for r in results)
    # Keep-alive: far fewer connections than requests, and every request knows its connection.
    assert len(set(server.peers)) < 50
    assert all(r.client is not None and r.client in server.peers for r in results)
    assert sum(r.reused for r in results) > 150
    assert all(r.latency is not None and 0 <= r.latency < 1.0 for r in results)


async def test_close_mode_opens_a_connection_per_request(server: TestServer) -> None:
    gen = await run_load(server, rate=100, duration=0.5, connections="close")
    assert [r.status for r in gen.results] == [200] * 50
    assert len(set(server.peers)) == 50
    assert not any(r.reused for r in gen.results)
    assert {r.client for r in gen.results} == set(server.peers)


async def test_mixed_mode_alternates(server: TestServer) -> None:
    gen = await run_load(server, rate=100, duration=0.5, connections="mixed")
    assert [r.keepalive for r in gen.results[:4]] == [True, False, True, False]
    assert all(r.status == 200 for r in gen.results)


async def test_latency_counts_from_the_intended_time_when_the_loop_stalls(server: TestServer) -> None:
    """A stall in the sender does not lower the rate: late requests keep their intended times."""
    gen = LoadGenerator(LoadOptions(host="127.0.0.1", port=server.port, rate=100), RealClock())
    runner = asyncio.ensure_future(gen.run(duration=1.0))
    await asyncio.sleep(0.2)
    import time

    time.sleep(0.3)  # noqa: ASYNC251 -- block the event loop: nothing can be sent for 0.3 s
    await runner
    await gen.drain(timeout=10)
    assert len(gen.results) == 100
    assert all(r.status == 200 for r in gen.results)
    # The requests due during the stall waited for it, and that wait is in their latency.
    stalled = [r for r in gen.results if r.latency is not None and r.latency > 0.1]
    assert len(stalled) >= 15
    assert max(r.latency or 0 for r in gen.results) >= 0.2


async def test_refused_when_nobody_listens() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    gen = LoadGenerator(LoadOptions(host="127.0.0.1", port=port, rate=50), RealClock())
    await gen.run(duration=0.2)
    await gen.drain(timeout=5)
    assert {r.outcome for r in gen.results} == {"refused"}
    assert all(r.failed and not r.retryable_keepalive for r in gen.results)


async def test_timeout_and_reset_and_status(server: TestServer) -> None:
    hang = await run_load(server, rate=20, duration=0.2, path="/hang", timeout=0.3)
    assert {r.outcome for r in hang.results} == {"timeout"}
    assert all(r.latency is not None and 0.3 <= r.latency < 1.0 for r in hang.results)
    assert all(r.sent is not None and r.client is not None for r in hang.results)

    reset = await run_load(server, rate=20, duration=0.2, path="/reset", connections="close")
    assert {r.outcome for r in reset.results} == {"reset"}
    assert all("reset" in r.detail for r in reset.results)

    errors = await run_load(server, rate=20, duration=0.2, path="/500")
    assert {r.outcome for r in errors.results} == {"500"}
    assert all(r.failed for r in errors.results)


async def test_reused_connection_closed_before_any_byte_is_reported_apart() -> None:
    server = TestServer(Behaviour(close_reused=True))
    await server.start()
    try:
        gen = await run_load(server, rate=50, duration=0.5)
    finally:
        await server.close()
    failed = [r for r in gen.results if r.failed]
    assert failed, "the server closes every reused connection"
    assert all(r.reused and not r.first_byte and r.retryable_keepalive for r in failed)
    # Said as what happened on the wire, not as the HTTP parser's complaint.
    assert {r.detail for r in failed} <= {"closed before any response byte", "connection reset by peer"}
    # A fresh connection is never such a failure.
    assert all(r.status == 200 for r in gen.results if not r.reused)


async def test_stop_ends_sending_and_drain_waits_for_in_flight(server: TestServer) -> None:
    gen = LoadGenerator(LoadOptions(host="127.0.0.1", port=server.port, rate=50, path="/slow"), RealClock())
    server.behaviour.slow = 0.3
    runner = asyncio.ensure_future(gen.run())
    await asyncio.sleep(0.25)
    gen.stop()
    await asyncio.wait_for(runner, 2)
    sent = len(gen.results)
    assert 5 <= sent <= 25
    assert gen.in_flight > 0
    await gen.drain(timeout=5)
    assert gen.in_flight == 0
    assert len(gen.results) == sent
    assert all(r.status == 200 for r in gen.results)


async def test_source_address_is_bound(server: TestServer) -> None:
    gen = await run_load(server, rate=20, duration=0.2, source="127.0.0.9", connections="close")
    assert all(r.client is not None and r.client[0] == "127.0.0.9" for r in gen.results)
    assert {p[0] for p in server.peers} == {"127.0.0.9"}
