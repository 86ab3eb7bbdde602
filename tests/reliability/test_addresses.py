"""A fixed clusterIP or nodePort that another process listens on is refused, naming the holder."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hitless.api import load_text
from hitless.api.types.service import Service
from hitless.cli.errors import internal_error
from hitless.clock import FakeClock
from hitless.engine import Engine, EngineOptions
from hitless.proxy.owner import address_conflicts
from hitless.runtime.fake import FakeProgram, FakeRuntime
from hitless.supervised import raise_if_failed, stop_engine, supervise
from hitless.tasks import ComponentFailed

COMM = Path("/proc/self/comm").read_text().strip()


@pytest.fixture
def held() -> Iterator[tuple[socket.socket, int]]:
    """A listener of this process on the wildcard address, as a user's own server would be."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # A free port of the NodePort range (30000-32767), from a random start.
    start = random.randrange(30000, 32768)
    for port in [*range(start, 32768), *range(30000, start)]:
        try:
            sock.bind(("0.0.0.0", port))
            break
        except OSError:
            continue
    sock.listen()
    yield sock, sock.getsockname()[1]
    sock.close()


def service(spec: str) -> Service:
    result = load_text(f"apiVersion: v1\nkind: Service\nmetadata: {{name: web}}\nspec: {spec}\n", "svc.yaml")
    assert not result.errors, [e.format() for e in result.errors]
    obj = result.objects[0].obj
    assert isinstance(obj, Service)
    return obj


def test_a_taken_node_port_names_its_holder(held: tuple[socket.socket, int]) -> None:
    _, port = held
    svc = service(f"{{type: NodePort, selector: {{app: web}}, ports: [{{port: 80, nodePort: {port}}}]}}")
    [conflict] = address_conflicts([svc], ["127.0.9.1", "127.0.9.2"])
    assert conflict.format() == (
        f'Service "web" is invalid: spec.ports[0].nodePort: Invalid value: {port}: provided port is '
        f"already allocated on this host (listen tcp4 127.0.9.1:{port}: bind: address already in use; "
        f"held by pid {os.getpid()} ({COMM}))"
    )


def test_a_wildcard_listener_takes_any_cluster_ips_port(held: tuple[socket.socket, int]) -> None:
    _, port = held
    svc = service(f"{{selector: {{app: web}}, ports: [{{port: {port}}}]}}")  # clusterIP to be allocated
    [conflict] = address_conflicts([svc], ["127.0.9.1"])
    assert conflict.format() == (
        f'Service "web" cannot be served here: spec.ports[0].port: {port}: its cluster IP would not get '
        f"the connections (a listener on the wildcard address of port {port}, held by pid {os.getpid()} "
        f"({COMM}))"
    )


def test_a_taken_cluster_ip_port_and_a_free_one() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.96.7.7", 0))
        sock.listen()
        port = sock.getsockname()[1]
        taken = service(f"{{clusterIP: 127.96.7.7, selector: {{app: web}}, ports: [{{port: {port}}}]}}")
        [conflict] = address_conflicts([taken], ["127.0.9.1"])
        assert conflict.field == "spec.clusterIP"
        assert f"held by pid {os.getpid()}" in conflict.reason
        free = service(f"{{clusterIP: 127.96.7.8, selector: {{app: web}}, ports: [{{port: {port}}}]}}")
        assert address_conflicts([free], ["127.0.9.1"]) == []


def test_up_refuses_to_start_on_a_taken_node_port(tmp_path: Path, held: tuple[socket.socket, int]) -> None:
    _, port = held
    manifest = tmp_path / "web.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web, labels: {app: web}}\n"
        "spec: {containers: [{name: main, image: busybox, command: [sleep, '100']}]}\n---\n"
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
        f"spec: {{type: NodePort, selector: {{app: web}}, ports: [{{port: 80, nodePort: {port}}}]}}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "hitless", "up", str(manifest)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert f"spec.ports[0].nodePort: Invalid value: {port}: provided port is already allocated" in done.stderr
    assert f"held by pid {os.getpid()}" in done.stderr
    assert "nothing was started" in done.stderr


async def test_a_frontend_that_cannot_bind_stops_the_run_with_exit_2(
    tmp_path: Path, held: tuple[socket.socket, int], capsys: pytest.CaptureFixture[str]
) -> None:
    # Past the check before the start (a port taken later, or allocated): the node proxy stops the run.
    _, port = held
    clock = FakeClock()
    supervisor = supervise()
    runtime = FakeRuntime(clock, lambda config: FakeProgram())
    engine = Engine(runtime, clock, EngineOptions(nodes=1, log_dir=tmp_path, seed=1))
    await engine.start()
    manifest = (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web, labels: {app: web}}\n"
        "spec: {containers: [{name: main, image: busybox, command: [app]}]}\n---\n"
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
        f"spec: {{type: NodePort, selector: {{app: web}}, ports: [{{port: 80, nodePort: {port}}}]}}\n"
    )
    engine.apply(o.obj for o in load_text(manifest, "web.yaml").applied())
    while not supervisor.failed.is_set():
        assert clock.now() < 30
        await clock.advance(0.5)
    stopping = asyncio.ensure_future(stop_engine(engine, supervisor, lambda _: None))
    while not stopping.done():
        await clock.advance(0.5)
    with pytest.raises(ComponentFailed) as failed:
        raise_if_failed(supervisor)
    assert failed.value.failure.component == "proxy node-1"
    assert internal_error("up", failed.value) == 2
    err = capsys.readouterr().err
    prefix = engine.options.node_address_prefix
    assert err == (
        f"hitless up: node-1: cannot serve the nodePort of Service default/web at {prefix}1:{port}: "
        f"listen tcp {prefix}1:{port}: Address already in use; held by pid {os.getpid()} "
        f"({COMM}); nothing was judged\n"
    )
