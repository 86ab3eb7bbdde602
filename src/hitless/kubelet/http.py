"""The HTTP GET the kubelet sends for httpGet probes and hooks, over h11.

One request per connection (the kubelet disables keep-alive), TLS without certificate checks,
a body read limit, and one timeout over the whole exchange. Connections are made through the
:class:`PodNetwork`, so ``podIP:port`` is reached inside the pod's network namespace.
Sources: pkg/probe/http/http.go, pkg/probe/http/request.go.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field

import h11

from hitless import KUBERNETES_VERSION
from hitless.runtime.network import PodNetwork

MAX_BODY = 10 * 1024


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


def user_agent(component: str) -> str:
    """kube-probe/1.34 or kube-lifecycle/1.34."""
    return f"{component}/{KUBERNETES_VERSION}"


def request_headers(
    host: str, port: int, user: list[tuple[str, str]], component: str
) -> list[tuple[str, str]]:
    """The kubelet's header rules: user headers in order, then User-Agent and Accept defaults.

    A user header with an empty value removes that default instead of sending it empty.
    """
    names = {k.lower() for k, _ in user}
    headers = [(k, v) for k, v in user if v != "" and k.lower() != "host"]
    host_header = next((v for k, v in user if k.lower() == "host"), None)
    if "user-agent" not in names:
        headers.append(("User-Agent", user_agent(component)))
    if "accept" not in names:
        headers.append(("Accept", "*/*"))
    # Go keeps the port the kubelet always puts in the URL (net.JoinHostPort), even 80.
    return [("Host", host_header or f"{host}:{port}"), *headers]


async def http_get(
    network: PodNetwork,
    *,
    scheme: str,
    host: str,
    port: int,
    target: str,
    headers: list[tuple[str, str]],
    timeout: float,
    body_limit: int = MAX_BODY,
) -> Response:
    """One GET; raises OSError/TimeoutError/h11 errors on transport failures."""
    return await asyncio.wait_for(
        _get(network, scheme, host, port, target, headers, body_limit), timeout=timeout
    )


async def _get(
    network: PodNetwork,
    scheme: str,
    host: str,
    port: int,
    target: str,
    headers: list[tuple[str, str]],
    body_limit: int,
) -> Response:
    reader, writer = await network.open_connection(host, port, timeout=3600)
    try:
        if scheme.lower() == "https":
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            await writer.start_tls(ctx, server_hostname=host)
        conn = h11.Connection(h11.CLIENT)
        writer.write(conn.send(h11.Request(method="GET", target=target or "/", headers=headers)))
        writer.write(conn.send(h11.EndOfMessage()))
        await writer.drain()
        response: Response | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                conn.receive_data(data)
                continue
            if isinstance(event, h11.Response):
                response = Response(
                    status=event.status_code,
                    headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers],
                )
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) >= body_limit:
                    break
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                break
        if response is None:
            raise ConnectionError("server closed the connection before sending a response")
        response.body = bytes(body[:body_limit])
        return response
    finally:
        writer.close()
