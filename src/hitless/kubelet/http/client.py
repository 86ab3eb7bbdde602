"""The client: Go's Client.Do for one GET at a time, its redirect policy, and the hooks' GET."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable, Sequence

from hitless.api.gofmt import quote
from hitless.kubelet.http.url import SCHEME, URL, Request, canonical_key, new_request, resolve_location
from hitless.kubelet.http.wire import (
    MAX_BODY,
    REDIRECT_STATUSES,
    ClientError,
    Exchange,
    Response,
    StreamConn,
    read_body,
    read_head,
    tls_context,
    tls_error_text,
    wire,
)
from hitless.kubelet.prober.probers.tcp import Conn, GoError, errno_text, join_host_port
from hitless.runtime.network import DialError, PodNetwork

USE_LAST_RESPONSE = "use last response"  # http.ErrUseLastResponse
RedirectCheck = Callable[[Request, list[Request]], str | None]


async def do(
    connect: Callable[[URL], Awaitable[Conn | StreamConn]],
    req: Request,
    check_redirect: RedirectCheck,
    exchange: Exchange,
    body_limit: int = MAX_BODY,
    extra: Sequence[tuple[str, str]] = (("Connection", "close"),),
) -> Response:
    """Client.Do for a GET, one connection per request. ``extra`` is what the transport adds:
    the probes' (DisableKeepAlives, DisableCompression) is ``Connection: close``.

    ``check_redirect`` sees the next request and the ones made so far; it returns None to follow,
    USE_LAST_RESPONSE to return the 3xx as it is, or an error text.
    """
    reqs: list[Request] = []
    while True:
        url = exchange.url = req.url
        if url.opaque or not url.host:
            raise ClientError(f"{url_error(url)}: http: no Host in request URL")
        if url.scheme not in ("http", "https"):
            raise ClientError(f"{url_error(url)}: unsupported protocol scheme {quote(url.scheme)}")
        reqs.append(req)
        buf = bytearray()
        try:
            conn = await connect(url)
        except GoError as exc:
            raise ClientError(f"{url_error(url)}: {exc}") from exc
        try:
            try:
                await conn.send(wire(req, extra))
                resp = await read_head(conn, buf)
            except GoError as exc:
                raise ClientError(f"{url_error(url)}: {exc}") from exc
            location = resp.header("Location") if resp.status in REDIRECT_STATUSES else None
            if location:
                try:
                    following = _redirected(req, reqs[0], location)
                except ValueError as exc:
                    text = f"{url_error(url)}: failed to parse Location header {quote(location)}: {exc}"
                    raise ClientError(text) from exc
                verdict = check_redirect(following, reqs)
                if verdict is None:
                    req = following
                    continue
                if verdict != USE_LAST_RESPONSE:
                    raise ClientError(f"{url_error(location)}: {verdict}")
            exchange.reading_body = True
            resp.body = await read_body(conn, buf, resp, body_limit)
            return resp
        finally:
            conn.close()


def url_error(url: URL | str) -> str:
    """The start of a url.Error's text: ``Get "http://10.0.0.1:8080/healthz"``."""
    return f"Get {quote(str(url))}"


def _redirected(prev: Request, first: Request, location: str) -> Request:
    url = resolve_location(prev.url, location)
    # A custom Host survives a relative redirect only (golang.org/issue/22233).
    host = prev.host if prev.host and prev.host != prev.url.host and not SCHEME.match(location) else ""
    header = {name: list(values) for name, values in first.header.items()}
    if not (prev.url.scheme == "https" and url.scheme == "http"):
        header["Referer"] = [first.get("Referer") or str(prev.url)]
    return Request(url, header, host)


def redirect_checker(req: Request, via: list[Request]) -> str | None:
    """http.go RedirectChecker(followNonLocalRedirects=false), which probes and hooks both use:
    another host name ends the chain with the 3xx itself; the 10th redirect is an error."""
    if req.url.hostname != via[0].url.hostname:
        return USE_LAST_RESPONSE
    return "stopped after 10 redirects" if len(via) >= 10 else None


# --- the lifecycle hooks' GET ---------------------------------------------------------------


def request_headers(
    host: str, port: int, user: list[tuple[str, str]], component: str
) -> list[tuple[str, str]]:
    """A hook's headers after request.go's defaults (User-Agent: kube-lifecycle/1.34, Accept)."""
    req = new_request(URL("http", join_host_port(host, port)), user, component.removeprefix("kube-"))
    return [(name, value) for name, values in req.header.items() for value in values]


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
    """A hook's GET through the kubelet's lifecycle client (ConsistentHTTPGetHandlers): TLS
    without checks, the probes' redirect policy, keep-alive and compression left on, so no
    ``Connection: close`` and an ``Accept-Encoding: gzip``. Raises ClientError or TimeoutError."""
    req = Request(URL(scheme.lower(), join_host_port(host, port), target or "/"))
    for name, value in headers:
        req.header.setdefault(canonical_key(name), []).append(value)
    req.host = req.get("Host")

    async def connect(url: URL) -> Conn | StreamConn:
        try:
            reader, writer = await network.open_connection(url.hostname, url.port, timeout=3600)
        except DialError as exc:
            raise ClientError(str(exc)) from exc
        except OSError as exc:
            text = str(exc) if exc.errno is None else f"dial tcp {url.host}: connect: {errno_text(exc)}"
            raise ClientError(text) from exc
        if url.scheme == "https":
            try:
                await writer.start_tls(tls_context(), server_hostname=url.hostname)
            except ssl.SSLError as exc:
                writer.close()
                raise ClientError(tls_error_text(exc)) from exc
        return StreamConn(reader, writer, url.host)

    extra = [] if req.header.get("Accept-Encoding") else [("Accept-Encoding", "gzip")]
    async with asyncio.timeout(timeout):
        return await do(connect, req, redirect_checker, Exchange(), body_limit, extra)
