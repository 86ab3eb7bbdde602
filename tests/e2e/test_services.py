"""Service traffic to real pods: readiness gates it, each node's proxy learns changes after its own
delay, Cluster rewrites the source address and Local keeps it, and the termination race drops
requests unless a preStop hook outlasts the propagation.

Nodes live at 127.0.41.N (not the default 127.0.1.N) so that another engine running on the same
machine at the same time cannot answer on this one's ports."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from hitless.api.types.discovery import EndpointSlice
from hitless.api.types.pod import Pod
from hitless.api.types.service import Service
from hitless.proxy.records import ProxySync
from hitless.store.store import WatchEvent
from tests.e2e import conftest
from tests.e2e.conftest import Cluster, running

NODES = "127.0.41."
LBS = "127.0.42."


def cluster_of(tmp_path: Path, **options: Any) -> AbstractAsyncContextManager[Cluster]:
    """Two nodes at addresses of their own, so that no other test's engine is disturbed."""
    return conftest.cluster_of(
        tmp_path, nodes=2, node_address_prefix=NODES, load_balancer_address_prefix=LBS, **options
    )


def pod(name: str, node: str, app: str, args: str = "", pre_stop: str = "") -> str:
    hook = f"\n    lifecycle: {{preStop: {{exec: {{command: [{pre_stop}]}}}}}}" if pre_stop else ""
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {{app: {app}}}}}
spec:
  nodeName: {node}
  containers:
  - name: web
    image: hitless
    args: [demo-app, --request-log=none{args}]
    env: [{{name: POD_NAME, valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}}}]
    readinessProbe: {{httpGet: {{path: /readyz, port: 8080}}, periodSeconds: 1}}{hook}
---"""


def service(name: str, app: str, type_: str = "NodePort", policy: str = "Cluster") -> str:
    return f"""
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec:
  type: {type_}
  externalTrafficPolicy: {policy}
  selector: {{app: {app}}}
  ports: [{{name: http, port: 80, targetPort: 8080}}]
---"""


def node_port(c: Cluster, name: str) -> int:
    svc = c.engine.store.get("Service", "default", name)
    assert isinstance(svc, Service) and svc.spec.ports and svc.spec.ports[0].node_port
    return svc.spec.ports[0].node_port


async def http_get(
    ip: str, port: int, path: str, source: str = "127.0.0.1", timeout: float = 5.0, method: str = "GET"
) -> tuple[int, bytes]:
    """One request on a new connection (``Connection: close``), as a client without a pool."""

    async def go() -> tuple[int, bytes]:
        reader, writer = await asyncio.open_connection(ip, port, local_addr=(source, 0))
        try:
            writer.write(f"{method} {path} HTTP/1.1\r\nHost: {ip}\r\nConnection: close\r\n\r\n".encode())
            head, _, body = (await reader.read(-1)).partition(b"\r\n\r\n")
            if not head:
                raise ConnectionResetError("closed without an answer")
            return int(head.split(b" ")[1]), body.strip()
        finally:
            writer.close()

    return await asyncio.wait_for(go(), timeout)


async def until(c: Cluster, predicate: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    deadline = c.clock.now() + timeout
    while not predicate():
        assert c.clock.now() < deadline, f"not reached in {timeout}s: {what}"
        await asyncio.sleep(0.01)


def syncs(c: Cluster, node: str, service: str) -> list[ProxySync]:
    return [s for s in c.engine.connections.syncs if s.node == node and s.service == f"default/{service}"]


def uses(sync: ProxySync, pod_name: str) -> bool:
    return any(e.pod == f"default/{pod_name}" for e in sync.used)


async def test_traffic_reaches_a_pod_only_once_ready_on_each_node_after_its_propagation(
    tmp_path: Path,
) -> None:
    delays = {"node-1": 0.3, "node-2": 1.5}
    async with cluster_of(tmp_path) as c:
        for proxy in c.engine.proxies:
            proxy.options = dataclasses.replace(proxy.options, propagation_delay=delays[proxy.node])
        ready_at: dict[str, float] = {}

        def watch_ready(event: WatchEvent) -> None:
            obj = event.object
            if isinstance(obj, Pod) and obj.is_ready() and obj.name not in ready_at:
                ready_at[obj.name] = c.clock.now()

        c.engine.store.add_listener(watch_ready)
        c.apply(
            service("web", "web")
            + pod("steady", "node-1", "web")
            + pod("late", "node-2", "web", ", --readyz=fail")
        )
        await c.wait_pod("steady", running)
        late = await c.wait_pod("late", lambda p: p.status.phase == "Running" and bool(p.status.pod_ip))
        port = node_port(c, "web")
        addresses = {p.node: p.address for p in c.engine.proxies}
        await until(c, lambda: all(any(uses(s, "steady") for s in syncs(c, n, "web")) for n in delays))
        # Running but not Ready: listed in the EndpointSlice as not ready, and given no request.
        slices = [s for s in c.engine.store.objects("EndpointSlice") if isinstance(s, EndpointSlice)]
        conditions = {e.target_ref.name: e.conditions for s in slices for e in s.endpoints if e.target_ref}
        assert conditions["late"].ready is False and conditions["late"].serving is False
        for node, address in addresses.items():
            answers = [await http_get(address, port, "/hostname") for _ in range(20)]
            assert answers == [(200, b"steady")] * 20, node
        assert not c.pod("late").is_ready()  # type: ignore[union-attr]

        assert late.status.pod_ip
        reader, writer = await c.engine.network.open_connection(late.status.pod_ip, 8080, 2)
        writer.write(b"POST /control/readyz?state=ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert b" 200 " in await reader.readline()
        writer.close()

        first_seen: dict[str, float] = {}

        async def poll(node: str, address: str) -> None:
            while True:
                status, body = await http_get(address, port, "/hostname")
                assert status == 200
                if body == b"late":
                    first_seen[node] = c.clock.now()
                    return
                await asyncio.sleep(0.01)

        await asyncio.wait_for(asyncio.gather(*(poll(n, a) for n, a in addresses.items())), 20)
        t_ready = ready_at["late"]
        for node, delay in delays.items():
            applied = next(s.at for s in syncs(c, node, "web") if uses(s, "late"))
            # Not before this node's proxy applied the change, which is the node's delay after Ready.
            assert applied - t_ready >= delay - 0.02, (node, applied - t_ready)
            assert applied <= first_seen[node] < applied + 1.0, (node, first_seen[node] - applied)
        assert first_seen["node-1"] < first_seen["node-2"]


async def test_cluster_shows_the_node_address_local_the_client_address(tmp_path: Path) -> None:
    async with cluster_of(tmp_path) as c:
        c.apply(
            service("cluster", "src") + service("local", "src", policy="Local") + pod("app", "node-2", "src")
        )
        await c.wait_pod("app", running)
        for node, name in (("node-2", "local"), ("node-1", "cluster"), ("node-2", "cluster")):
            await until(c, lambda: any(uses(s, "app") for s in syncs(c, node, name)))  # noqa: B023
        one, two = (p.address for p in c.engine.proxies)
        client = "127.0.0.77"

        async def peer(address: str, service_name: str) -> str:
            status, body = await http_get(address, node_port(c, service_name), "/clientip", source=client)
            assert status == 200
            return body.decode().rsplit(":", 1)[0]

        # Cluster: the source is rewritten to the node that took the connection (SNAT).
        assert await peer(one, "cluster") == one
        assert await peer(two, "cluster") == two
        # Local, on the pod's node: the client's own address arrives.
        assert await peer(two, "local") == client
        # Local, on a node without an endpoint: dropped, the client's connect times out.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.open_connection(one, node_port(c, "local")), 1.5)
        routed = [r for r in c.engine.connections.records if r.hop == "proxy"]
        assert [(r.node, r.service, r.pod) for r in routed] == [
            ("node-1", "default/cluster", "default/app"),
            ("node-2", "default/cluster", "default/app"),
            ("node-2", "default/local", "default/app"),
        ]
        # kube-proxy's /healthz on every node's port 10256.
        for address in (one, two):
            status, body = await http_get(address, 10256, "/healthz")
            health = json.loads(body)
            assert status == 200 and health["nodeEligible"] is True
            assert set(health) == {"lastUpdated", "currentTime", "nodeEligible"}


@pytest.mark.parametrize("pre_stop", ["", "sleep, '2'"], ids=["no-preStop", "preStop-sleep-2s"])
async def test_termination_race_against_a_one_second_propagation(tmp_path: Path, pre_stop: str) -> None:
    async with cluster_of(tmp_path, propagation_delay=1.0) as c:
        c.apply(
            service("web", "web")
            + pod("victim", "node-1", "web", ", --on-sigterm=exit", pre_stop)
            + pod("survivor", "node-2", "web")
        )
        await c.wait_pod("victim", running)
        await c.wait_pod("survivor", running)
        await until(c, lambda: any(uses(s, "victim") for s in syncs(c, "node-1", "web")))
        address, port = c.engine.proxies[0].address, node_port(c, "web")
        failures: list[tuple[float, str]] = []
        answered: dict[bytes, int] = {}
        stop = asyncio.Event()

        async def client() -> None:
            while not stop.is_set():
                started = c.clock.now()
                try:
                    status, body = await http_get(address, port, "/hostname", timeout=5.0)
                    assert status == 200
                    answered[body] = answered.get(body, 0) + 1
                except (OSError, TimeoutError) as exc:
                    failures.append((started, type(exc).__name__))

        workers = [asyncio.ensure_future(client()) for _ in range(4)]
        deleted_at = 0.0

        def removal() -> ProxySync | None:
            return next(
                (s for s in syncs(c, "node-1", "web") if s.at > deleted_at and not uses(s, "victim")), None
            )

        try:
            await until(c, lambda: answered.get(b"victim", 0) >= 10 and answered.get(b"survivor", 0) >= 10)
            deleted_at = c.clock.now()
            c.engine.store.delete("Pod", "default", "victim")
            await until(c, lambda: removal() is not None)
            await asyncio.sleep(0.3)  # traffic after the removal goes to the survivor only
        finally:
            stop.set()
            await asyncio.wait_for(asyncio.gather(*workers, return_exceptions=True), 20)
        removed = removal()
        assert removed is not None
        removed_at = removed.at
        await c.wait_gone("victim")

        assert removed_at - deleted_at >= 0.98  # the propagation delay, on node-1
        records = [r for r in c.engine.connections.records if r.hop == "proxy"]
        to_victim = [r for r in records if r.pod == "default/victim" and r.accepted_at > deleted_at]
        assert to_victim, "no new connection reached the victim during the propagation"
        # Not routed (the pod's port was closed: refused), or routed to an app that exited with the
        # request in flight (no answer came back).
        failed = [r for r in records if r.outcome != "routed" or r.bytes_down == 0]
        if pre_stop:
            assert failures == [] and failed == []
        else:
            assert failures, "the race should have failed some requests"
            assert len(failed) == len(failures)
            assert any(r.outcome.startswith("upstream-") for r in failed)
            for r in failed:
                # Blamed on the deleted pod, routed there before node-1 learnt it was terminating.
                assert r.pod == "default/victim", r
                # (or, in flight when the app exited: accepted just before the delete)
                assert deleted_at - 0.5 <= r.accepted_at <= removed_at + 0.05, r


def test_hitless_up_prints_where_each_service_answers(tmp_path: Path) -> None:
    """As a user: ``hitless up`` says where the Service is; each address it prints answers."""
    manifest = tmp_path / "web.yaml"
    manifest.write_text(service("web", "web") + pod("web-1", "node-2", "web"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "hitless", "up", str(manifest), "--no-events"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stderr is not None

    def read() -> None:
        for line in proc.stderr or []:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no http_proxy for 127.x
    try:
        deadline = time.monotonic() + 20
        said = ""
        while "service default/web" not in said:
            said = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        # "... (NodePort, externalTrafficPolicy Cluster): http/TCP at 127.96.x.y:80; 127.0.1.1:3xxxx, ..."
        assert "(NodePort, externalTrafficPolicy Cluster): http/TCP at " in said, said
        addresses = re.findall(r"(127(?:\.\d+){3}):(\d+)", said)
        # Node N at PREFIX.N: 127.0.1.N unless another engine on this host holds that block.
        nodes = [a for a, _ in addresses[1:]]
        assert len(nodes) == 2 and nodes[0][:-1] == nodes[1][:-1] and nodes[0].endswith(".1"), said
        assert addresses[0][1] == "80" and addresses[1][1] == addresses[2][1], said
        for ip, port in addresses:
            answer = b""
            while answer != b"web-1":  # until the pod is Ready and every proxy has synced
                assert time.monotonic() < deadline, (ip, port, answer)
                try:
                    with direct.open(f"http://{ip}:{port}/hostname", timeout=1) as response:
                        answer = response.read().strip()
                except OSError:
                    time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0
