"""``pods/NAME:PORT/proxy/PATH`` over a bare store: the request reaches the pod's IP through the
pod network's dial (here a loopback server standing in for the pod), as kube-apiserver's ProxyREST
forwards it; a pod without an address or nothing listening is answered as upstream answers."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from types import SimpleNamespace

from hitless.api.types.meta import ObjectMeta
from hitless.api.types.pod import Container, ContainerPort, Pod, PodSpec, PodStatus
from hitless.apiserver import cli
from hitless.clock import RealClock
from hitless.store.store import Store
from tests.apiserver.conftest import Served

POD_IP = "127.244.9.9"


def _pod(name: str, ip: str | None) -> Pod:
    return Pod(
        metadata=ObjectMeta(name=name, namespace="default"),
        spec=PodSpec(
            containers=[Container(name="app", image="x", ports=[ContainerPort(container_port=8080)])]
        ),
        status=PodStatus(pod_ip=ip),
    )


async def test_the_proxy_forwards_method_path_query_and_body_to_the_pod(served: Served) -> None:
    seen: list[bytes] = []

    async def pod_app(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        seen.append(head + await reader.readexactly(length))
        writer.write(
            b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'
        )
        await writer.drain()
        writer.close()

    listener = await asyncio.start_server(pod_app, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    dialled: list[tuple[str, int]] = []

    async def dial(host: str, p: int, timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        dialled.append((host, p))
        if p != 8080:
            raise ConnectionRefusedError(f"dial tcp {host}:{p}: connect: connection refused")
        return await asyncio.open_connection("127.0.0.1", port)

    assert served.server.rest is not None
    served.server.rest.dial = dial
    for name, ip in (("web", POD_IP), ("pending", None)):
        served.store.create(_pod(name, None))
        served.store.update_status(_pod(name, ip))
    try:
        code, body, resp = await served.request(
            "POST", "/api/v1/namespaces/default/pods/web:8080/proxy/control/healthz?state=fail", {"a": 1}
        )
        assert (code, body) == (200, {"ok": True}), body["message"]
        assert resp.headers["Content-Type"] == "application/json"
        request = seen[0].decode()
        assert request.startswith("POST /control/healthz?state=fail HTTP/1.1\r\n")
        assert f"host: {POD_IP}:8080" in request.lower() and request.endswith('{"a": 1}')
        # The run's credentials stay with the API server.
        assert "authorization" not in request.lower()
        # No port: the first declared container port (pod.ResourceLocation).
        code, _, _ = await served.request("GET", "/api/v1/namespaces/default/pods/web/proxy/")
        assert code == 200 and dialled[-1] == (POD_IP, 8080)
        code, body, _ = await served.request("GET", "/api/v1/namespaces/default/pods/web:9999/proxy/")
        assert code == 503 and body["reason"] == "ServiceUnavailable"
        assert (
            body["message"]
            == f"error trying to reach service: dial tcp {POD_IP}:9999: connect: connection refused"
        )
        code, body, _ = await served.request("GET", "/api/v1/namespaces/default/pods/pending:8080/proxy/")
        assert (code, body["message"]) == (400, "address not allowed")
        code, body, _ = await served.request("GET", "/api/v1/namespaces/default/pods/nope:8080/proxy/")
        assert (code, body["message"]) == (404, 'pods "nope" not found')
        code, body, _ = await served.request("GET", "/api/v1/namespaces/default/pods/a:b:c:d/proxy/")
        assert (code, body["message"]) == (400, 'invalid pod request "a:b:c:d"')
        code, core, _ = await served.request("GET", "/api/v1")
        proxy = next(r for r in core["resources"] if r["name"] == "pods/proxy")
        assert proxy["kind"] == "PodProxyOptions" and "create" in proxy["verbs"]
    finally:
        listener.close()
        await listener.wait_closed()


async def test_hitless_up_api_hands_the_engines_pod_network_to_the_proxy(tmp_path: Path) -> None:
    """And its token issuer to the kubelets (their TokenRequest)."""

    async def dial(host: str, port: int, timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        raise AssertionError("not dialled here")

    host = SimpleNamespace(request_token=None)
    engine = SimpleNamespace(
        store=Store(RealClock()),
        clock=RealClock(),
        options=SimpleNamespace(log_dir=tmp_path / "logs"),
        network=SimpleNamespace(open_connection=dial),
        kubelets=[SimpleNamespace(volumes=SimpleNamespace(host=host))],
    )
    args = argparse.Namespace(api="0", kubeconfig=str(tmp_path / "kubeconfig"))
    running = await cli.start(args, engine)  # type: ignore[arg-type]
    assert running is not None
    try:
        assert running.server.rest is not None and running.server.rest.dial is dial
        assert host.request_token == running.server.tokens.issue
    finally:
        await running.stop()
