"""A fixed clusterIP or nodePort that another process listens on is refused, naming the holder."""

from __future__ import annotations

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
from hitless.proxy.owner import address_conflicts


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
        f"held by pid {os.getpid()} ({Path('/proc/self/comm').read_text().strip()}))"
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
