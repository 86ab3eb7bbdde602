"""The load generator's own limits stop it and say so; they are never counted as failed requests."""

from __future__ import annotations

import asyncio
import errno
import socket
import time
from typing import Any

import pytest

from hitless.clock import RealClock
from hitless.verify import generator as gen
from hitless.verify.generator import LoadGenerator, LoadOptions


def refused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_loop_too_busy_to_keep_the_rate_stops_the_generator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gen, "MAX_LATENESS", 0.2)
    g = LoadGenerator(LoadOptions(host="127.0.0.1", port=refused_port(), rate=100, timeout=1.0), RealClock())
    runner = asyncio.ensure_future(g.run())
    await asyncio.sleep(0)  # the first request is due at once
    assert g.results
    time.sleep(0.5)  # the event loop is held: every request due meanwhile is 0.5 s late  # noqa: ASYNC251
    await asyncio.wait_for(runner, 5)
    assert g.overload is not None and "behind schedule at 100 requests/s" in g.overload
    sent = len(g.results)
    await g.drain(2)
    assert len(g.results) == sent  # nothing more was sent


async def test_running_out_of_descriptors_is_the_generators_limit_not_a_refusal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = 0
    real = socket.socket

    def socket_or_emfile(*args: Any, **kwargs: Any) -> socket.socket:
        nonlocal calls
        calls += 1
        if calls > 3:
            raise OSError(errno.EMFILE, "Too many open files")
        return real(*args, **kwargs)

    port = refused_port()
    monkeypatch.setattr(gen.socket, "socket", socket_or_emfile)
    g = LoadGenerator(LoadOptions(host="127.0.0.1", port=port, rate=200, timeout=1.0), RealClock())
    await asyncio.wait_for(g.run(duration=2.0), 5)
    await g.drain(2)
    assert g.overload == "socket: Too many open files at 200 requests/s"
    # The first requests were refused by the closed port; the one that found no descriptor has no
    # outcome, so verify does not count it (it drops requests without status or error).
    outcomes = [r.error for r in g.results]
    assert outcomes[:3] == ["refused"] * 3
    assert outcomes[3:] == [None] * (len(outcomes) - 3)
