"""Fixtures for the probers: real sockets and servers on 127.0.0.1, the real Linux runtime for exec.

PodNetwork dials loopback addresses from the engine's own namespace, so ``pod_ip="127.0.0.1"`` is
probed without any sandbox (its runtime is never asked).
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hitless.api.types.pod import Pod, Probe
from hitless.clock import RealClock
from hitless.kubelet.prober.probers.base import ProberDeps, ProbeTarget
from hitless.runtime.network import PodNetwork

from .servers import RawServer


def make_pod(container: dict[str, Any] | None = None) -> Pod:
    spec = {"name": "app", "image": "busybox", **(container or {})}
    return Pod.from_json(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "web", "namespace": "default", "uid": "uid-web"},
            "spec": {"containers": [spec]},
        }
    )


def target(
    container: dict[str, Any] | None = None, pod_ip: str = "127.0.0.1", cid: str = "c1"
) -> ProbeTarget:
    pod = make_pod(container)
    return ProbeTarget(pod=pod, container=pod.spec.containers[0], container_id=cid, pod_ip=pod_ip)


def probe(**handler: Any) -> Probe:
    return Probe.from_json(handler)


@pytest.fixture
def deps() -> ProberDeps:
    return ProberDeps(network=PodNetwork(None), runtime=None, clock=RealClock())  # type: ignore[arg-type]


@pytest.fixture
async def server() -> AsyncIterator[Callable[..., Any]]:
    """Start raw HTTP servers on 127.0.0.1 (closed at teardown): ``await server(handler, ssl=...)``."""
    started: list[RawServer] = []

    async def start(handler: Any, **kwargs: Any) -> RawServer:
        srv = RawServer(handler, **kwargs)
        await srv.start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        await srv.close()


@pytest.fixture
def free_port() -> int:
    """A port of 127.0.0.1 nobody listens on (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def full_listener() -> Iterator[int]:
    """A port whose SYNs are dropped: a listener with ``listen(0)`` and a full accept queue, which
    never accepts. Connecting to it hangs, which is a connect timeout on loopback."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    filler = socket.socket()
    try:
        filler.connect(("127.0.0.1", port))  # completes, and fills the queue of one
        yield port
    finally:
        filler.close()
        listener.close()


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate and its key, made by openssl."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=x", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


async def settle() -> None:
    await asyncio.sleep(0)
