"""A pod's connection to a ClusterIP, as its node's proxy takes it from the pod's namespace: the
node's last sync decides (readiness, internalTrafficPolicy), the pod's address is kept (hairpin
masqueraded), and the record names the pod as client."""

from __future__ import annotations

import asyncio
import contextlib
import socket

from tests.proxy.helpers import endpoint, endpoint_slice, service
from tests.proxy.test_routing import BACKEND_PORT, Env, env  # noqa: F401


def redirected(proxy_accept: object, pod_ip: str, dst: tuple[str, int]) -> socket.socket:
    """What the pod's redirect socket hands the proxy: an accepted connection and the original
    destination. Returns the pod's end."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        client = socket.socket()
        client.bind((pod_ip, 0))
        client.connect(listener.getsockname())
        conn, peer = listener.accept()
    conn.setblocking(False)
    assert callable(proxy_accept)
    proxy_accept(pod_ip, conn, (pod_ip, peer[1]), dst)
    return client


async def read_line(sock: socket.socket) -> str:
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    data = b""
    while not data.endswith(b"\n"):
        chunk = await asyncio.wait_for(loop.sock_recv(sock, 100), 5)
        if not chunk:
            break
        data += chunk
    return data.decode().strip()


async def test_pod_traffic_follows_each_nodes_sync_and_keeps_the_pods_address(env: Env) -> None:  # noqa: F811
    web = env.store.create(service("web", target=BACKEND_PORT))
    local = env.store.create(service("local", target=BACKEND_PORT, internalTrafficPolicy="Local"))
    for name in ("web", "local"):
        env.store.create(
            endpoint_slice(name, BACKEND_PORT, [endpoint("b", "127.250.0.3", "node-2")], f"{name}-x")
        )
    await env.until(lambda: all(len(p.pod_targets) == 2 for p in env.proxies))
    node1, node2 = env.proxies
    web_dst = (web.spec.cluster_ip or "", 80)
    local_dst = (local.spec.cluster_ip or "", 80)
    assert node1.pod_targets[web_dst].mode == "route"
    # Local: node-1 has no endpoint of its own (DROP), node-2 has.
    assert node1.pod_targets[local_dst].mode == "drop" and node2.pod_targets[local_dst].mode == "route"

    pod = redirected(node1._accept_from_pod, "127.244.0.9", web_dst)
    assert await read_line(pod) == "127.244.0.9"  # no SNAT for a pod's traffic
    pod.close()
    record = next(r for r in env.log.records if r.frontend == "clusterIP")
    assert (record.node, record.client[0], record.service, record.pod) == (
        "node-1",
        "127.244.0.9",
        "default/web",
        "default/b",
    )

    # Hairpin: the endpoint reaching itself through its Service sees the node's address.
    pod = redirected(node2._accept_from_pod, "127.250.0.3", local_dst)
    assert await read_line(pod) == "127.0.9.2"
    pod.close()

    # The endpoint stops being ready: once node-1 has synced, its pods are refused.
    slice_ = env.store.get("EndpointSlice", "default", "web-x")
    not_ready = endpoint_slice(
        "web", BACKEND_PORT, [endpoint("b", "127.250.0.3", "node-2", ready=False)], "web-x"
    )
    not_ready.metadata = slice_.metadata  # type: ignore[union-attr]
    env.store.update(not_ready)
    await env.until(lambda: node1.pod_targets[web_dst].mode == "refuse")
    pod = redirected(node1._accept_from_pod, "127.244.0.9", web_dst)
    with contextlib.suppress(ConnectionResetError):  # REJECT, after the connect here
        assert await read_line(pod) == ""
    pod.close()
    assert env.log.records[-1].outcome == "refused"
