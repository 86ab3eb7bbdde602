"""``pods/NAME[:PORT]/proxy/PATH``: the API server forwards an HTTP request to the pod's IP.

After kube-apiserver's ProxyREST (pkg/registry/core/pod/rest/subresources.go: the methods it
connects, the path joined under the pod's address), pod.ResourceLocation
(pkg/registry/core/pod/strategy.go: ``name``, ``name:port`` or ``scheme:name:port``; no port
takes the first declared container port; a pod without a usable IP is "address not allowed")
and apimachinery's proxy transport (pkg/util/proxy/transport.go: a failed dial is 503
ServiceUnavailable "error trying to reach service: ..."). The authentication filter removed the
client's credentials before (apiserver/pkg/endpoints/filters/authentication.go), so they never
reach the pod.

The API server knows nothing of how pods are run: the pod network's dial is handed to it
(``ApiServer.dial``: the engine's, which dials a pod IP from inside the pod's namespace).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import h11
from aiohttp import web

from hitless.api.types.pod import Pod
from hitless.apiserver import status
from hitless.runtime.network import in_pod_network

if TYPE_CHECKING:
    from hitless.apiserver.rest import Rest, Target

Dial = Callable[[str, int, float], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]

# ProxyREST's proxyMethods (PATCH since 1.27).
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
DIAL_TIMEOUT = 10.0
# What one request may wait for the pod's answer to begin (the proxy transport's
# ResponseHeaderTimeout is unset upstream; a bound keeps a hung pod from holding a handler).
ANSWER_TIMEOUT = 60.0
# Hop-by-hop headers (RFC 9110 7.6.1) and what the proxy sets itself.
_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "host",
    "content-length",
    "authorization",
}


def split_scheme_name_port(raw: str) -> tuple[str, str, str] | None:
    """apimachinery's net.SplitSchemeNamePort: ``name``, ``name:port``, ``scheme:name:port``."""
    parts = raw.split(":")
    if len(parts) == 1:
        scheme, name, port = "", parts[0], ""
    elif len(parts) == 2:
        scheme, name, port = "", parts[0], parts[1]
    elif len(parts) == 3:
        scheme, name, port = parts
    else:
        return None
    if not name or scheme not in ("", "http", "https"):
        return None
    return scheme, name, port


def _tail(request: web.Request, raw_name: str) -> str:
    marker = f"/pods/{raw_name}/proxy"
    path = request.raw_path.split("?", 1)[0]
    at = path.find(marker)
    tail = path[at + len(marker) :] if at >= 0 else ""
    return tail if tail.startswith("/") else "/" + tail


async def serve(rest: Rest, request: web.Request, target: Target) -> web.StreamResponse:
    if request.method not in METHODS:
        raise status.method_not_allowed()
    raw = target.name or ""
    parsed = split_scheme_name_port(raw)
    if parsed is None:
        raise status.bad_request(f'invalid pod request "{raw}"')
    scheme, name, port = parsed
    pod = rest.store.get("Pod", target.namespace or "default", name)
    if not isinstance(pod, Pod):
        raise status.not_found("", "pods", name)
    if not port:
        port = next(
            (str(c.ports[0].container_port) for c in pod.spec.containers if c.ports),
            "",
        )
    ip = pod.status.pod_ip or ""
    # Upstream allows global unicast addresses only; hitless's pod IPs are in 127.244.0.0/16
    # (runtime/network.py), and nothing else may be reached through here.
    if not in_pod_network(ip):
        raise status.bad_request("address not allowed")
    if scheme == "https":
        raise status.bad_request("hitless's pod proxy speaks plain HTTP to pods (no https: scheme)")
    address = f"{ip}:{port or 80}"
    if not (port or "80").isdigit():
        raise status.ApiError(
            503, "ServiceUnavailable", f"error trying to reach service: dial tcp {address}: unknown port"
        )
    if rest.dial is None:
        raise status.ApiError(
            503, "ServiceUnavailable", "error trying to reach service: this API server has no pod network"
        )
    try:
        reader, writer = await rest.dial(ip, int(port or 80), DIAL_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        why = str(exc) or "connect: connection refused"
        if not why.startswith("dial tcp"):
            why = f"dial tcp {address}: {why}"
        raise status.ApiError(503, "ServiceUnavailable", f"error trying to reach service: {why}") from exc
    try:
        return await _forward(request, reader, writer, address, _tail(request, raw))
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _forward(
    request: web.Request,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    address: str,
    path: str,
) -> web.StreamResponse:
    body = await request.read()
    target = path + (f"?{request.query_string}" if request.query_string else "")
    headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _HOP]
    headers += [("Host", address), ("Connection", "close"), ("Content-Length", str(len(body)))]
    conn = h11.Connection(h11.CLIENT)
    writer.write(
        conn.send(h11.Request(method=request.method, target=target, headers=headers))
        + (conn.send(h11.Data(data=body)) if body else b"")
        + conn.send(h11.EndOfMessage())
    )
    await writer.drain()

    async def event() -> h11.Event | type[h11.PAUSED] | type[h11.NEED_DATA]:
        while True:
            got = conn.next_event()
            if got is not h11.NEED_DATA:
                return got
            conn.receive_data(await reader.read(65536))

    try:
        async with asyncio.timeout(ANSWER_TIMEOUT):
            head = await event()
        if not isinstance(head, h11.Response):
            raise h11.RemoteProtocolError("no response")
    except (OSError, TimeoutError, h11.RemoteProtocolError) as exc:
        raise status.ApiError(
            503, "ServiceUnavailable", f"error trying to reach service: {type(exc).__name__}: {exc}"
        ) from exc
    resp = web.StreamResponse(status=head.status_code, reason=head.reason.decode() or None)
    for key, value in head.headers:
        if key.decode().lower() not in _HOP:
            resp.headers.add(key.decode(), value.decode("latin-1"))
    await resp.prepare(request)
    with contextlib.suppress(OSError, h11.RemoteProtocolError):
        while True:
            part = await event()
            if not isinstance(part, h11.Data):
                break
            await resp.write(part.data)
    await resp.write_eof()
    return resp
