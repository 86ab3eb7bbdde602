"""A dynamically allocated nodePort skips a port something on the host already listens on at a
node's address (the node's proxy could not listen there), as the API server's allocator retries
a port that is taken."""

from __future__ import annotations

import socket
from pathlib import Path

from hitless.api import load_text
from hitless.api.types.service import Service
from hitless.clock import FakeClock
from hitless.engine import Engine, EngineOptions
from hitless.runtime.fake import FakeProgram, FakeRuntime

SERVICE = """
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector: {app: web}
  ports: [{port: 8080}]
"""


def allocated(tmp_path: Path) -> tuple[int, int]:
    """The nodePort and healthCheckNodePort a seeded engine gives the Service."""
    clock = FakeClock()
    runtime = FakeRuntime(clock, lambda config: FakeProgram())
    # Addresses of their own, so that another hitless on the host does not decide the outcome.
    options = EngineOptions(
        nodes=2,
        log_dir=tmp_path,
        seed=7,
        node_address_prefix="127.0.91.",
        load_balancer_address_prefix="127.0.92.",
    )
    engine = Engine(runtime, clock, options)
    result = load_text(SERVICE, "web.yaml")
    (service,) = engine.apply(o.obj for o in result.applied())
    assert isinstance(service, Service) and service.spec.ports
    node_port, health = service.spec.ports[0].node_port, service.spec.health_check_node_port
    assert node_port and health
    return node_port, health


def test_a_port_held_on_a_node_address_is_not_allocated(tmp_path: Path) -> None:
    node_port, health = allocated(tmp_path)
    assert allocated(tmp_path) == (node_port, health)  # seeded: the same ports again
    held = []
    try:
        for port, address in ((node_port, "127.0.91.2"), (health, "127.0.91.1")):
            sock = socket.socket()
            held.append(sock)
            sock.bind((address, port))
            sock.listen()
        again, health_again = allocated(tmp_path)
        assert again != node_port and health_again != health
        assert again not in (node_port, health) and health_again not in (node_port, health)
    finally:
        for sock in held:
            sock.close()
