"""Probes of a pod IP go through the sandbox's network namespace (the engine's dialer path)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hitless.clock import RealClock
from hitless.kubelet.prober.probers.base import ProbeOutcome, ProberDeps, ProbeTarget
from hitless.kubelet.prober.probers.grpc import GRPCProber
from hitless.kubelet.prober.probers.http import HTTPProber
from hitless.kubelet.prober.probers.tcp import TCPProber
from hitless.kubelet.prober.results import Result
from hitless.runtime.cri import PodSandboxConfig
from hitless.runtime.linux import LinuxRuntime
from hitless.runtime.linux.procfs import has_cap_sys_admin
from hitless.runtime.network import PodNetwork

from ..runtime.helpers import container, run
from .conftest import probe, target

pytestmark = pytest.mark.skipif(
    not (sys.platform.startswith("linux") and has_cap_sys_admin()),
    reason="pod sandboxes need root (CAP_SYS_ADMIN)",
)

SERVER = (
    "import http.server as h; h.HTTPServer(('0.0.0.0', 8080), h.SimpleHTTPRequestHandler).serve_forever()"
)


@pytest.fixture
async def pod(tmp_path: Path) -> AsyncIterator[tuple[ProberDeps, ProbeTarget]]:
    rt = LinuxRuntime()
    try:
        sandbox = await rt.run_pod_sandbox(
            PodSandboxConfig("net-pod", "default", "uid-n", "net-pod", tmp_path)
        )
        ip = rt.pod_sandbox_status(sandbox).ip
        cid = await run(rt, sandbox, container([sys.executable, "-c", SERVER], working_dir=str(tmp_path)))
        network = PodNetwork(rt)
        network.register(ip, sandbox)
        deps = ProberDeps(network=network, runtime=rt, clock=RealClock())
        tcp = TCPProber(deps)
        for _ in range(200):  # until the server listens
            if (
                await tcp.probe(probe(tcpSocket={"port": 8080}), target(pod_ip=ip), 1)
            ).result is Result.SUCCESS:
                break
            await asyncio.sleep(0.05)
        yield deps, target(pod_ip=ip, cid=cid)
    finally:
        await rt.shutdown()


async def test_http_and_tcp_reach_the_pod_ip(pod: tuple[ProberDeps, ProbeTarget]) -> None:
    deps, t = pod
    outcome = await HTTPProber(deps).probe(probe(httpGet={"port": 8080, "path": "/"}), t, 2)
    assert outcome.result is Result.SUCCESS
    assert await TCPProber(deps).probe(probe(tcpSocket={"port": 8081}), t, 2) == ProbeOutcome(
        Result.FAILURE, f"dial tcp {t.pod_ip}:8081: connect: connection refused"
    )
    # The pod IP is local only inside the pod: from the engine, 127.244.x.y has no listener.
    engine = ProberDeps(network=PodNetwork(deps.runtime), runtime=deps.runtime, clock=deps.clock)
    assert (await TCPProber(engine).probe(probe(tcpSocket={"port": 8080}), t, 2)).result is Result.FAILURE


async def test_grpc_to_a_pod_ip_without_a_grpc_server(pod: tuple[ProberDeps, ProbeTarget]) -> None:
    deps, t = pod
    assert await GRPCProber(deps).probe(probe(grpc={"port": 8080}), t, 0.3) == ProbeOutcome(
        Result.FAILURE,
        f'timeout: failed to connect service "{t.pod_ip}:8080" within 300ms: context deadline exceeded',
    )
