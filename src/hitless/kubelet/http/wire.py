"""One HTTP/1.1 exchange on the wire, as Go's net/http writes a request and reads a response
(request.go, response.go, transfer.go): errors worded as Go's, TLS without checks."""

from __future__ import annotations

import asyncio
import functools
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field

from hitless.api.gofmt import quote
from hitless.kubelet.http.url import URL, Request, canonical_key
from hitless.kubelet.prober.probers.tcp import Conn, GoError, errno_text

MAX_BODY = 10 * 1024  # http.go maxRespBodyLength
MAX_HEADER_BYTES = 10 << 20  # Go's DefaultMaxHeaderBytes


class ClientError(GoError):
    """A failed exchange; ``str()`` is Go's ``err.Error()``."""


class BodyError(ClientError):
    """Reading the body failed after the headers came (DoHTTPProbe: a probe *error*)."""


class StreamConn:
    """A connection over asyncio streams: TLS, and the hooks' connections from PodNetwork."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, addr: str) -> None:
        self.reader, self.writer, self.addr = reader, writer, addr

    async def send(self, data: bytes) -> None:
        try:
            self.writer.write(data)
            await self.writer.drain()
        except OSError as exc:
            raise ClientError(f"write tcp {self.addr}: write: {errno_text(exc)}") from exc

    async def recv(self) -> bytes:
        try:
            return await self.reader.read(65536)
        except ssl.SSLError as exc:
            raise ClientError(tls_error_text(exc)) from exc
        except OSError as exc:
            raise ClientError(f"read tcp {self.addr}: read: {errno_text(exc)}") from exc

    def close(self) -> None:
        self.writer.close()


@functools.cache
def tls_context() -> ssl.SSLContext:
    """InsecureSkipVerify: no certificate or name checks, no client certificate. Made once."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def tls_error_text(exc: ssl.SSLError) -> str:
    reason = getattr(exc, "reason", None) or ""
    if isinstance(exc, ssl.SSLEOFError):
        return "EOF"
    if reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE"):
        # The usual cause: an https probe of a plain HTTP port, which Go names this way.
        return "http: server gave HTTP response to HTTPS client"
    for prefix in ("SSLV3_ALERT_", "TLSV1_ALERT_", "TLSV13_ALERT_"):
        if reason.startswith(prefix):
            return "remote error: tls: " + reason[len(prefix) :].lower().replace("_", " ")
    return str(exc)


_WS = " \t"
_EXCLUDED = frozenset({"Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer"})
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def wire(req: Request, extra: Sequence[tuple[str, str]]) -> bytes:
    """Request.write: the request line, Host, User-Agent, the rest sorted by name, then ``extra``."""
    if req.wired is not None and req.wired[0] is extra:
        return req.wired[1]
    for name, values in req.header.items():
        if not _TOKEN.fullmatch(name):
            raise ClientError(f"net/http: invalid header field name {quote(name)}")
        if any(_BAD_VALUE.search(v) for v in values):
            raise ClientError(f"net/http: invalid header field value for {quote(name)}")
    lines = [f"GET {req.url.target} HTTP/1.1", f"Host: {req.host or req.url.host}"]
    ua = req.get("User-Agent")  # only the first value, and an empty one is not sent
    if ua:
        lines.append(f"User-Agent: {ua.strip(_WS)}")
    for name in sorted(req.header):
        if name not in _EXCLUDED:
            lines.extend(f"{name}: {v.strip(_WS)}" for v in req.header[name])
    lines.extend(f"{k}: {v}" for k, v in extra)
    data = ("\r\n".join(lines) + "\r\n\r\n").encode()
    req.wired = (extra, data)
    return data


# --- responses (net/http response.go, transfer.go) -----------------------------------------

_HEAD_END = re.compile(rb"\r?\n\r?\n")
_LINE_END = re.compile(r"\r?\n")
_VERSION = re.compile(r"HTTP/\d\.\d")
_NO_BODY = frozenset({204, 304})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# How Go's transport decorates an error reading a response's headers from a fresh connection.
BROKEN = "net/http: HTTP/1.x transport connection broken: "


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    length: int | None = 0  # of the body: -1 chunked, None until the connection closes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


@dataclass
class Exchange:
    """Where a request stands, so that a caller's deadline can be worded as Go's client words it."""

    url: URL | None = None
    reading_body: bool = False


async def read_head(conn: Conn | StreamConn, buf: bytearray) -> Response:
    """The status line and headers (1xx responses other than 101 skipped); the rest stays in ``buf``."""
    while True:
        while (m := _HEAD_END.search(buf)) is None:
            if len(buf) > MAX_HEADER_BYTES:
                raise ClientError(
                    f"net/http: server response headers exceeded {MAX_HEADER_BYTES} bytes; aborted"
                )
            data = await conn.recv()
            if not data:
                raise ClientError(BROKEN + "unexpected EOF" if buf else "EOF")
            buf += data
        lines = _LINE_END.split(bytes(buf[: m.start()]).decode("latin-1"))
        del buf[: m.end()]
        resp = _parse_head(lines)
        if not 100 <= resp.status < 200 or resp.status == 101:
            return resp


def _parse_head(lines: list[str]) -> Response:
    proto, sep, status = lines[0].partition(" ")
    if not sep:
        raise ClientError(f"{BROKEN}malformed HTTP response {quote(lines[0])}")
    code = status.lstrip(" ").partition(" ")[0]
    if len(code) != 3 or not code.isdigit():
        raise ClientError(f"{BROKEN}malformed HTTP status code {quote(code)}")
    if not _VERSION.fullmatch(proto):
        raise ClientError(f"{BROKEN}malformed HTTP version {quote(proto)}")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # obsolete line folding
            headers[-1] = (headers[-1][0], f"{headers[-1][1]} {line.strip(_WS)}")
            continue
        name, sep, value = line.partition(":")
        if not sep or not _TOKEN.fullmatch(name):
            raise ClientError(f"{BROKEN}malformed MIME header line: {line}")
        headers.append((canonical_key(name), value.strip(_WS)))
    resp = Response(int(code), headers)
    resp.length = _framing(resp)
    return resp


def _framing(resp: Response) -> int | None:
    if 100 <= resp.status < 200 or resp.status in _NO_BODY:
        return 0
    encodings = [v.strip(_WS).lower() for k, v in resp.headers if k == "Transfer-Encoding"]
    if encodings:
        if encodings != ["chunked"]:
            raise ClientError(f"{BROKEN}unsupported transfer encoding: {quote(','.join(encodings))}")
        return -1
    lengths = {v.strip(_WS) for k, v in resp.headers if k == "Content-Length"}
    if len(lengths) > 1:
        got = quote(",".join(sorted(lengths)))
        raise ClientError(f"{BROKEN}http: message cannot contain multiple Content-Length headers; got {got}")
    if lengths:
        text = lengths.pop()
        if not text.isdigit():
            raise ClientError(f"{BROKEN}bad Content-Length {quote(text)}")
        return int(text)
    return None


async def _fill(conn: Conn | StreamConn, buf: bytearray, need: int, until_eof: bool = False) -> None:
    while len(buf) < need:
        try:
            data = await conn.recv()
        except GoError as exc:
            raise BodyError(str(exc)) from exc
        if not data:
            if until_eof:
                return
            raise BodyError("unexpected EOF")
        buf += data


async def read_body(conn: Conn | StreamConn, buf: bytearray, resp: Response, limit: int) -> bytes:
    """At most ``limit`` bytes of the body (utilio.ReadAtMost: more is dropped, not an error)."""
    length = resp.length
    if length is None or length >= 0:
        want = limit if length is None else min(length, limit)
        await _fill(conn, buf, want, until_eof=length is None)
        return bytes(buf[:want])
    body = bytearray()
    while len(body) < limit:
        while (nl := buf.find(b"\n")) < 0:
            await _fill(conn, buf, len(buf) + 1)
        size_text = bytes(buf[:nl]).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise BodyError("invalid byte in chunk length") from None
        del buf[: nl + 1]
        take = min(size, limit - len(body))
        await _fill(conn, buf, take)
        body += buf[:take]
        if size == 0 or take < size:
            break
        await _fill(conn, buf, size + 2)
        if buf[size : size + 2] != b"\r\n":
            raise BodyError("malformed chunked encoding")
        del buf[: size + 2]
    return bytes(body)
