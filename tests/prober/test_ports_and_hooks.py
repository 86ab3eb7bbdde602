"""Port resolution (pkg/probe/util.go, 1.34) and the hooks' side of the shared HTTP client."""

from __future__ import annotations

import pytest

from hitless.api.types.pod import Container
from hitless.kubelet.http import http_get, request_headers
from hitless.kubelet.ports import PortError, resolve_port, resolve_probe_port
from hitless.runtime.network import PodNetwork

from .servers import RawServer, Seen, response

WEB = Container.from_json({"name": "web", "ports": [{"name": "http", "containerPort": 8080}]})


def test_resolve_probe_port() -> None:
    assert resolve_probe_port(9090, WEB) == 9090
    assert resolve_probe_port("http", WEB) == 8080
    assert resolve_probe_port("8081", WEB) == 8081  # the "last ditch" Atoi of 1.29–1.34
    for port, message in [
        ("metrics", 'strconv.Atoi: parsing "metrics": invalid syntax'),
        ("99999999999999999999", 'strconv.Atoi: parsing "99999999999999999999": value out of range'),
        (70000, "invalid port number: 70000"),
        ("-1", "invalid port number: -1"),
    ]:
        with pytest.raises(PortError) as err:
            resolve_probe_port(port, WEB)
        assert str(err.value) == message
    assert resolve_port is resolve_probe_port  # HTTP hooks go through NewRequestForHTTPGetAction too


async def test_hook_get_is_the_lifecycle_clients(server: object) -> None:
    def redirect(seen: Seen) -> bytes:
        if seen.target == "/stop":
            return response(302, b"", [("Location", "/stopped")])
        return response(200, b"bye")

    srv: RawServer = await server(redirect)  # type: ignore[operator]
    headers = request_headers("127.0.0.1", srv.port, [("X-Hook", "1")], "kube-lifecycle")
    network = PodNetwork(None)  # type: ignore[arg-type]
    kwargs = {"scheme": "HTTP", "host": "127.0.0.1", "port": srv.port, "headers": headers, "timeout": 5}
    resp = await http_get(network, target="/stop", **kwargs)  # type: ignore[arg-type]
    assert (resp.status, resp.body) == (200, b"bye")
    first, second = srv.seen
    assert first.headers == [
        ("Host", f"127.0.0.1:{srv.port}"),
        ("User-Agent", "kube-lifecycle/1.34"),
        ("Accept", "*/*"),
        ("X-Hook", "1"),
        ("Accept-Encoding", "gzip"),
    ]
    assert second.target == "/stopped"
