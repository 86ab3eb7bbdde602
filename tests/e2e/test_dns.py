"""Pods find Services by name: the kubelet's resolv.conf, the cluster DNS inside each pod's
namespace, and the pod's connection to a ClusterIP through its node's proxy."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hitless.api.types.discovery import EndpointSlice
from hitless.check.runner import run_check
from hitless.runtime.cri import ExecResult
from hitless.store.allocator import CLUSTER_DNS_IP
from tests.e2e import conftest
from tests.e2e.conftest import Cluster, running
from tests.e2e.test_examples import stdout_lines, up

pytestmark = pytest.mark.slow

# busybox-static's wget resolves through static glibc's NSS, which crashes: the client is Python,
# through glibc's resolver and the container's /etc/resolv.conf.
FETCH = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read())"
GET = f"{sys.executable} -c '{FETCH}'"
TCP_QUERY = (
    "import dns.message, dns.query; "
    f'q = dns.message.make_query("backend.default.svc.cluster.local", "A"); '
    f'print(dns.query.tcp(q, "{CLUSTER_DNS_IP}", timeout=5).answer[0][0])'
)

MANIFEST = """
apiVersion: v1
kind: Pod
metadata: {name: backend-a, labels: {app: backend}}
spec:
  nodeName: node-2
  containers:
  - name: web
    image: hitless
    args: [demo-app, --request-log=none]
    env: [{name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
    readinessProbe: {httpGet: {path: /readyz, port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: backend}
spec:
  selector: {app: backend}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: db-0, labels: {app: db}}
spec:
  nodeName: node-2
  hostname: db-0
  subdomain: db
  containers:
  - name: web
    image: hitless
    args: [demo-app, --request-log=none]
    readinessProbe: {httpGet: {path: /readyz, port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{name: http, port: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  nodeName: node-1
  containers:
  - name: sh
    image: busybox
    command: [/bin/busybox, sleep, "3600"]
"""


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    async with conftest.cluster_of(
        tmp_path, nodes=2, node_address_prefix="127.0.51.", load_balancer_address_prefix="127.0.52."
    ) as c:
        yield c


async def sh(c: Cluster, script: str) -> ExecResult:
    pod = c.pod("client")
    assert pod is not None and pod.status.container_statuses
    container_id = (pod.status.container_statuses[0].container_id or "").split("://")[-1]
    return await c.engine.runtime.exec_sync(container_id, ["/bin/busybox", "sh", "-c", script], 10)


def out(result: ExecResult) -> str:
    return result.output.decode(errors="replace")


async def test_a_pod_reaches_services_by_name(cluster: Cluster) -> None:
    c = cluster
    c.apply(MANIFEST)
    for name in ("backend-a", "db-0"):
        await c.wait_pod(name, running)
    await c.wait_pod("client", lambda p: p.status.phase == "Running")

    resolv = await sh(c, "cat /etc/resolv.conf")
    # (The node's own search domains, if any, follow the cluster's.)
    lines = out(resolv).splitlines()
    assert lines[0].startswith("search default.svc.cluster.local svc.cluster.local cluster.local")
    assert lines[1:] == [f"nameserver {CLUSTER_DNS_IP}", "options ndots:5"]
    # Wait until node-1's proxy has synced the endpoint, as a client on a cluster would.
    await wait_for(lambda: any(t.endpoints for t in c.engine.proxies[0].pod_targets.values()))

    for name in ("backend", "backend.default", "backend.default.svc.cluster.local"):
        got = await sh(c, f"/bin/busybox nslookup {name}; {GET} http://{name}/")
        assert got.exit_code == 0, out(got)
        assert "backend-a" in out(got)
    records = [r for r in c.engine.connections.records if r.frontend == "clusterIP"]
    client_ip = c.pod("client").status.pod_ip  # type: ignore[union-attr]
    assert records and all(r.client[0] == client_ip and r.node == "node-1" for r in records)
    assert all(r.pod == "default/backend-a" and r.outcome == "routed" for r in records)

    # DNS over TCP, and a ClusterIP port with no Service behind it.
    tcp = await sh(c, f"{sys.executable} -c '{TCP_QUERY}'")
    backend_ip = c.engine.store.get("Service", "default", "backend").spec.cluster_ip  # type: ignore[union-attr]
    assert out(tcp).strip() == backend_ip, out(tcp)
    nothing = await sh(c, f"{GET} http://backend:81/")
    assert nothing.exit_code != 0 and "reset" in out(nothing).lower(), out(nothing)

    # The StatefulSet-style name, the headless Service's name, and an outside name.
    stable = await sh(c, "/bin/busybox nslookup db-0.db.default.svc.cluster.local")
    db_ip = c.pod("db-0").status.pod_ip  # type: ignore[union-attr]
    assert db_ip in out(stable), out(stable)
    # ... and reached by it, pod to pod (the pod network through the node, no Service).
    direct = await sh(c, f"{GET} http://db-0.db:8080/")
    assert direct.exit_code == 0, out(direct)
    outside = await sh(c, "/bin/busybox nslookup example.com.")
    assert outside.exit_code != 0 and "REFUSED" in out(outside), out(outside)

    # The headless Service's name follows readiness.
    headless = await sh(c, "/bin/busybox nslookup db")
    assert db_ip in out(headless), out(headless)
    c.engine.store.delete("Pod", "default", "db-0", 0)
    await wait_for(lambda: not any(s.endpoints and s.endpoints[0].is_ready for s in slices(c, "db")))
    gone = await sh(c, "/bin/busybox nslookup db.default.svc.cluster.local")
    assert db_ip not in out(gone), out(gone)


def slices(c: Cluster, service: str) -> list[EndpointSlice]:
    return [
        s
        for s in c.engine.store.objects("EndpointSlice")
        if isinstance(s, EndpointSlice) and s.service_name == service
    ]


async def wait_for(predicate: object, timeout: float = 15.0) -> None:
    assert callable(predicate)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)


def test_the_dns_example_through_hitless_up(tmp_path: Path) -> None:
    """examples/dns.yaml as a user runs it: the client reaches both backends by the Service's
    name and each pod of the StatefulSet by its stable name; `hitless check` finds no error in it."""
    code, _, log_dir = up(tmp_path, "examples/dns.yaml", duration=3)
    assert code == 0
    lines = stdout_lines(log_dir, "client")
    answered = {line.split(": ", 1)[1] for line in lines if line.startswith("backend answered")}
    assert answered and all(name.startswith("backend-") for name in answered), lines
    # Each StatefulSet pod reached by its stable name, at its own address.
    for ordinal in (0, 1):
        prefix = f"db-{ordinal}.db (127.244."
        assert any(line.startswith(prefix) and line.endswith(f"answered: db-{ordinal}") for line in lines), (
            lines
        )
    assert run_check([str(Path(__file__).resolve().parents[2] / "examples" / "dns.yaml")]).exit_code == 0
