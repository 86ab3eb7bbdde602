"""The in-cluster load agent: its line format, the clock mapping, its pod, its permissions, and
the ``hitless agent load`` process itself against a loopback server (verify/agent.py,
verify/agentwire.py, cli/agent.py). The run through a cluster is tests/verify/test_agent_run.py."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hitless.kube.client import ApiError
from hitless.verify.agent import AGENT_LABEL, agent_pod, agent_summary
from hitless.verify.agentwire import ClockMap, ahead, boot_id, decode, encode, move
from hitless.verify.cluster_steps import ClusterError, missing_access, required_access
from hitless.verify.generator import RequestResult
from hitless.verify.options import VerifyOptions


def test_a_request_line_round_trips_every_field_blame_reads() -> None:
    r = RequestResult(
        seq=7, intended=100.25, keepalive=True, sent=100.2501, done=100.4, status=None, error="reset",
        detail="connection reset by peer", client=("10.244.1.5", 40312), reused=True, first_byte=False,
        pod="web-1",
    )  # fmt: skip
    line = json.loads(encode(r))
    assert line["type"] == "request" and "\n" not in encode(r)
    back = decode(line, 0.0)
    assert back == r
    assert back.retryable_keepalive and back.outcome == "reset" and back.failed
    moved = decode(line, -90.0)
    assert (moved.intended, moved.sent, moved.done) == pytest.approx((10.25, 10.2501, 10.4))
    pending = decode(json.loads(encode(RequestResult(seq=1, intended=5.0, keepalive=False))), 1.0)
    assert (pending.sent, pending.done, pending.client, pending.status) == (None, None, None, None)
    with pytest.raises(ValueError):
        decode({**line, "error": "exploded"}, 0.0)


def test_one_kernel_shares_the_monotonic_clock_two_map_through_wall_time() -> None:
    ready = {"type": "ready", "monotonic": 500.0, "wall": 1_800_000_000.0, "bootId": "b1"}
    assert ClockMap.of(ready, 42.0, 1_700_000_000.0, "b1") == ClockMap(0.0, "shared-monotonic")
    # The agent's node booted long ago (its monotonic 500 s at wall W), the runner at 42 s at wall
    # W + 3 s: the agent's 500 s is the runner's 39 s.
    m = ClockMap.of(ready, 42.0, 1_800_000_003.0, "b2")
    assert m.how == "wall-clock" and 500.0 + m.offset == pytest.approx(39.0)
    # A fake runner clock (no boot id) never claims a shared clock.
    assert ClockMap.of(ready, 42.0, 1_800_000_003.0, "").how == "wall-clock"


def test_a_mapped_time_later_than_its_line_arrived_proves_the_agent_ahead() -> None:
    rs = [
        RequestResult(seq=i, intended=float(i), keepalive=True, sent=i + 0.01, done=i + 0.1) for i in range(3)
    ]
    # Lines arrive 0.05 s after their request finished, but one 0.2 s "before": the mapping is at
    # least 0.2 s ahead; a clock behind cannot be told from the log's latency.
    assert ahead([(rs[0], 0.15), (rs[1], 0.9), (rs[2], 2.2)]) == pytest.approx(0.2)
    assert ahead([(rs[0], 0.15), (rs[1], 1.15)]) == 0.0
    move(rs[1], -0.2)
    assert (rs[1].intended, rs[1].sent, rs[1].done) == pytest.approx((0.8, 0.81, 0.9))


def test_the_agent_pod_is_bare_labelled_and_selected_by_no_service() -> None:
    opts = VerifyOptions(rps=25, connections="mixed", timeout=2.5, path="/x")
    pod = agent_pod(
        "hitless-agent-ab", "hitless:0.1.0", "ab", {"app": "web"}, "10.96.0.7:80", opts, ["w-1", "w-2"]
    )
    assert pod["spec"]["restartPolicy"] == "Never" and "ownerReferences" not in pod["metadata"]
    labels = pod["metadata"]["labels"]
    assert labels[AGENT_LABEL] == "ab" and "app" not in labels
    (c,) = pod["spec"]["containers"]
    assert c["image"] == "hitless:0.1.0" and "command" not in c  # the image's ENTRYPOINT is hitless
    args = c["args"]
    assert args[:2] == ["agent", "load"]
    assert dict(zip(args[2::2], args[3::2], strict=True)) == {
        "--target": "10.96.0.7:80", "--rps": "25", "--path": "/x", "--connections": "mixed",
        "--timeout": "2.5", "--warm-up-pods": "w-1,w-2", "--warm-up-timeout": "30",
    }  # fmt: skip
    # Longer than the drain of the requests in flight after SIGTERM.
    assert pod["spec"]["terminationGracePeriodSeconds"] > opts.timeout
    with pytest.raises(ClusterError, match="would select the load agent"):
        agent_pod("n", "i", "ab", {"app.kubernetes.io/managed-by": "hitless"}, "t", opts, [])


async def test_the_agents_permissions_are_asked_only_when_it_may_be_used() -> None:
    plain = required_access({"Deployment"}, "ns", own_namespace=True)
    both = required_access({"Deployment"}, "ns", own_namespace=True, agent=True)
    log = {"verb": "get", "group": "", "resource": "pods", "subresource": "log", "namespace": "ns"}
    assert log not in plain and log in both
    assert {"verb": "create", "group": "", "resource": "pods", "subresource": "", "namespace": "ns"} in both

    class Refusing:
        async def can_i(self, verb: str, resource: str, group: str, namespace: str, sub: str = "") -> bool:
            return not (resource == "pods" and sub == "log")

    missing = await missing_access(Refusing(), both)  # type: ignore[arg-type]
    assert missing == ["get pods/log in namespace ns"]


@pytest.fixture
async def pod_server() -> AsyncIterator[int]:
    """A keep-alive HTTP server on loopback that names itself as the demo app does (x-pod-name)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                writer.write(b"HTTP/1.1 200 OK\r\nx-pod-name: pod-a\r\nContent-Length: 2\r\n\r\nok")
                if b"connection: close" in head.lower():
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()


async def _agent(port: int, *extra: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hitless", "agent", "load", "--target", f"127.0.0.1:{port}",
        "--rps", "100", "--connections", "mixed", "--timeout", "1", *extra,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip


def _close(proc: asyncio.subprocess.Process) -> None:
    # asyncio has no public close for a finished subprocess's transport; left to the garbage
    # collector it closes in a later test, when this test's loop is closed (an unraisable error).
    proc._transport.close()  # type: ignore[attr-defined]


async def _stop(proc: asyncio.subprocess.Process) -> list[dict[str, Any]]:
    """SIGTERM, as the pod's deletion sends it: the lines the agent printed until it exited 0."""
    proc.send_signal(signal.SIGTERM)
    assert proc.stdout is not None
    rest = [json.loads(raw) for raw in (await asyncio.wait_for(proc.stdout.read(), 20)).splitlines()]
    assert await proc.wait() == 0
    return rest


async def _line(proc: asyncio.subprocess.Process) -> dict[str, Any]:
    assert proc.stdout is not None
    raw = await asyncio.wait_for(proc.stdout.readline(), 20)
    assert raw, "the agent's stdout ended"
    line = json.loads(raw)
    assert isinstance(line, dict)
    return line


async def test_the_agent_warms_up_loads_and_flushes_on_sigterm(pod_server: int) -> None:
    proc = await _agent(pod_server, "--warm-up-pods", "pod-a")
    try:
        assert await _line(proc) == {"type": "warm-up", "answered": ["pod-a"]}
        ready = await _line(proc)
        assert ready["type"] == "ready" and ready["bootId"] == boot_id()
        assert ready["monotonic"] <= time.monotonic() and abs(ready["wall"] - time.time()) < 5
        requests = [await _line(proc) for _ in range(5)]
        rest = await _stop(proc)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        _close(proc)
    requests += [x for x in rest if x["type"] == "request"]
    assert rest[-1] == {"type": "end", "requests": len(requests), "overload": None}
    results = [decode(x, 0.0) for x in requests]
    assert sorted(r.seq for r in results) == list(range(len(results)))
    assert all(r.status == 200 and r.pod == "pod-a" and r.client is not None for r in results)
    # On this kernel the agent's times are this process's CLOCK_MONOTONIC.
    assert all(ready["monotonic"] <= r.intended <= (r.done or 0) <= time.monotonic() for r in results)
    assert {r.keepalive for r in results} == {True, False}  # --connections mixed


async def test_a_pod_that_never_answers_the_warm_up_is_the_agents_error(pod_server: int) -> None:
    proc = await _agent(pod_server, "--warm-up-pods", "pod-a,pod-b", "--warm-up-timeout", "0.5")
    assert await _line(proc) == {"type": "warm-up", "answered": ["pod-a"]}
    error = await _line(proc)
    assert error["type"] == "error" and "never answered: pod-b" in error["message"]
    assert await asyncio.wait_for(proc.communicate(), 20) == (b"", None)
    _close(proc)
    assert proc.returncode == 1


class _Stream:
    """A log stream as aiohttp hands it: ``content.readline()`` until b""."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = [(x + "\n").encode() for x in lines]
        self.content = self

    async def readline(self) -> bytes:
        return self.lines.pop(0) if self.lines else b""

    def release(self) -> None:
        pass

    def close(self) -> None:
        pass


class _Api:
    """The agent pod as an API server shows it: its status, then its log, once per follow."""

    def __init__(self, pod: dict[str, Any], logs: list[list[str]]) -> None:
        self.pod, self.logs, self.calls = pod, logs, []  # type: list[tuple[str, str]]

    async def request(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        self.calls.append((method, path))
        return self.pod if method == "GET" else {}

    async def watch_lines(self, path: str, query: dict[str, str], idle: float) -> _Stream:
        assert path.endswith("/log") and query["follow"] == "true"
        if not self.logs:
            raise ApiError(404, 'pods "a" not found', "NotFound")  # the pod is gone
        return _Stream(self.logs.pop(0))


RUNNING = {
    "spec": {"nodeName": "n1"},
    "status": {"podIP": "10.0.0.9", "containerStatuses": [{"state": {"running": {}}}]},
}


def _request(seq: int, t: float) -> str:
    return encode(
        RequestResult(seq=seq, intended=t, keepalive=True, sent=t, done=t + 0.01, status=200, pod="w")
    )


async def test_the_runner_maps_dedupes_and_reads_a_broken_log_again() -> None:
    from hitless.clock import FakeClock
    from hitless.verify.agent import AgentLoad

    clock = FakeClock()  # now() 0, no boot id: the mapping goes through wall time
    wall = clock.wall().timestamp()
    # The agent's monotonic 1000 s was the runner's 0 s, but its wall clock is 0.5 s fast.
    ready = json.dumps({"type": "ready", "monotonic": 1000.0, "wall": wall + 0.5, "bootId": "x"})
    first = ["Traceback? no: a stray line", ready, _request(0, 999.5), _request(1, 999.6)]
    again = [
        ready,
        _request(0, 999.5),
        _request(1, 999.6),
        _request(2, 999.7),
        '{"type":"end","requests":3}',
    ]
    api = _Api(RUNNING, [first, again])
    load = AgentLoad(api, "ns", "hitless-agent-x", clock)  # type: ignore[arg-type]
    await load.start({"metadata": {"name": "hitless-agent-x"}})
    await load.run()
    load.stop()
    await load.drain()
    assert [r.seq for r in load.results] == [0, 1, 2]
    assert load.info["reconnects"] == 1 and "truncated" not in load.info and "unread" not in load.info
    # Through the fast wall clock the requests map 0.5 s late (to 0.0, 0.1, 0.2, done 0.01 s
    # after), but every line arrived at the runner's 0: the mapping is proven at least 0.21 s ahead
    # and moved back by that (the rest of the skew cannot be told from the log's latency).
    assert load.info["clock"] == {"mapping": "wall-clock", "corrected": pytest.approx(-0.21)}
    assert [r.intended for r in load.results] == pytest.approx([-0.21, -0.11, -0.01])
    assert load.info["node"] == "n1" and load.info["podIP"] == "10.0.0.9"
    assert agent_summary(load.info) == (
        "load from the in-cluster agent: pod hitless-agent-x on node n1, clock wall-clock"
    )
    assert ("DELETE", "/api/v1/namespaces/ns/pods/hitless-agent-x") in api.calls


async def test_an_agent_image_that_cannot_be_pulled_is_named() -> None:
    from hitless.clock import FakeClock
    from hitless.verify.agent import AgentLoad

    waiting = {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "hitless:0.1.0"'}
    api = _Api({"status": {"containerStatuses": [{"state": {"waiting": waiting}}]}}, [])
    load = AgentLoad(api, "ns", "hitless-agent-x", FakeClock())  # type: ignore[arg-type]
    with pytest.raises(ClusterError, match=r"ImagePullBackOff.*--agent-image"):
        await load.start({})
    await load.cancel()
    assert api.calls[-1] == ("DELETE", "/api/v1/namespaces/ns/pods/hitless-agent-x")


def test_the_agent_flags_need_a_cluster(capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path

    from hitless.cli import verify as verify_cli

    example = str(Path(__file__).resolve().parents[2] / "examples/zero-downtime.yaml")
    for flags in (["--load-from", "agent"], ["--agent-image", "registry.example/hitless:1"]):
        assert verify_cli.main([example, *flags]) == 2
        assert f"{flags[0]} is for a cluster: it needs --kubeconfig" in capsys.readouterr().err


async def test_requests_the_log_lost_are_counted() -> None:
    from hitless.clock import FakeClock
    from hitless.verify.agent import AgentLoad

    clock = FakeClock()
    ready = json.dumps({"type": "ready", "monotonic": 0.0, "wall": clock.wall().timestamp(), "bootId": "x"})
    # seq 1 never came (a log rotated away before a re-read), nor did the end line of the agent.
    api = _Api(RUNNING, [[ready, _request(0, -1.0), _request(2, -0.9)]])
    load = AgentLoad(api, "ns", "a", clock)  # type: ignore[arg-type]
    await load.start({})
    await load.run()
    assert [r.seq for r in load.results] == [0, 2]
    assert load.info["unread"] == 1 and "before its end line" in load.info["truncated"]
    assert "; 1 requests never read from its log; the agent's log ended" in agent_summary(load.info)
