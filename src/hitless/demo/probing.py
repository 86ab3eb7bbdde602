"""Endpoints for testing the probers themselves: redirects, the raw request headers, big bodies.

The kubelet's HTTP prober follows redirects to the same host (up to 10, as Go's client does),
does not follow one to another host (the probe succeeds, with a warning), fails a 3xx without a
Location, sends the probe's httpHeaders as written, and reads at most 10 KiB of a body. These
answers let tests and examples reach each of those rules.
"""

from __future__ import annotations

from hitless.demo.messages import Request, Response, query_int, text

MAX_CHAIN = 100
MAX_BIG = 64 << 20  # /big builds its body in memory: a bound keeps a typo from eating the host's
_LINE = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-the-hitless-demo-app-big\n"


def probe_endpoint(req: Request) -> Response:
    try:
        if req.path == "/redirect":
            return _redirect(req)
        if req.path == "/redirect-chain":
            return _redirect_chain(req)
        status = query_int(req, "code", 200, 200, 599, "a status")
        if req.path == "/headers":
            return Response(status, "".join(f"{n}: {v}\n" for n, v in req.headers).encode())
        size = query_int(req, "size", 65536, 0, MAX_BIG, "a size in bytes")
        return Response(status, _big(size))
    except ValueError as e:
        return text(400, str(e))


def _redirect(req: Request) -> Response:
    code = query_int(req, "code", 302, 300, 399, "a redirect status")
    if req.query.get("no-location", "") not in ("", "0", "false"):
        # A 3xx a client cannot follow: the kubelet's prober counts it as a failure.
        return text(code, "redirect without a Location header")
    to = req.query.get("to", "/")
    if "port" in req.query or "scheme" in req.query:
        # Same host as the client addressed (its Host header), another port or scheme: the
        # classic redirect from HTTP to HTTPS, without knowing the pod's IP in advance.
        port = query_int(req, "port", req.local[1], 1, 65535, "a port")
        scheme = req.query.get("scheme", req.scheme)
        if scheme not in ("http", "https"):
            raise ValueError(f"scheme must be http or https, not {scheme!r}")
        to = f"{scheme}://{_host(req)}:{port}{'' if to.startswith('/') else '/'}{to}"
    return _location(code, to)


def _redirect_chain(req: Request) -> Response:
    """N redirects in a row on this host, the last to ``to``: Go's client gives up after 10."""
    n = query_int(req, "n", 1, 1, MAX_CHAIN, "a count")
    code = query_int(req, "code", 302, 300, 399, "a redirect status")
    to = req.query.get("to", "/healthz")
    if n == 1:
        return _location(code, to)
    from urllib.parse import quote  # only chains need it; every import is paid at each start

    code_part = f"&code={code}" if "code" in req.query else ""
    return _location(code, f"/redirect-chain?n={n - 1}&to={quote(to, safe='/:')}{code_part}")


def _location(code: int, to: str) -> Response:
    # A CR or LF would split the header (h11 refuses to send it): refuse it here, with a reason.
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in to):
        raise ValueError(f"to must not contain control characters: {to!r}")
    return text(code, f"redirecting to {to}", headers=[(b"location", to.encode())])


def _host(req: Request) -> str:
    """The host part of the Host header (an IPv6 literal keeps its brackets), else the local IP."""
    host = req.header("host") or ""
    if host.startswith("[") and "]" in host:
        return host[: host.index("]") + 1]
    if host:
        return host.partition(":")[0]
    ip = req.local[0]
    return f"[{ip}]" if ":" in ip else ip


def _big(size: int) -> bytes:
    # Starts with "ok" like the health endpoints; numbered-looking lines make a truncation visible.
    body = b"ok\n" + _LINE * (size // len(_LINE) + 1)
    return body[:size]
