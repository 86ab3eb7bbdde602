"""HTTP/1.1 (and HTTPS) over asyncio streams with h11: keep-alive, pipelining, and the drain's answers.

The listeners, the connection bookkeeping and the drain's steps are in conns.py; here, what makes the
HTTP/1.1 side of it: a draining server answers the request in progress with ``Connection: close``.
"""

from __future__ import annotations

import asyncio
import time

import h11

from hitless import __version__
from hitless.demo.conns import READ_SIZE, Conn, ConnServer, discard_until_closed, format_address
from hitless.demo.log import log
from hitless.demo.messages import Request, Response
from hitless.demo.routes import HEALTH_PATHS, State, handle

__all__ = ["HttpServer", "format_address", "parse_query", "reason"]

SERVER_HEADER = f"hitless-demo-app/{__version__}".encode()


# The statuses the app answers itself; ?code=N may ask for any other, looked up on demand.
REASONS = {
    200: b"OK",
    # The redirects of /redirect, which probes follow (or not) by their own rules.
    301: b"Moved Permanently",
    302: b"Found",
    303: b"See Other",
    307: b"Temporary Redirect",
    308: b"Permanent Redirect",
    400: b"Bad Request",
    404: b"Not Found",
    405: b"Method Not Allowed",
    503: b"Service Unavailable",
}


def reason(status: int) -> bytes:
    if status not in REASONS:
        from http import HTTPStatus

        try:
            REASONS[status] = HTTPStatus(status).phrase.encode()
        except ValueError:
            REASONS[status] = b""
    return REASONS[status]


def parse_query(query: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for pair in query.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        if "%" in pair or "+" in pair:
            # Imported only for escaped queries: the plain ones scenarios send need none of it.
            from urllib.parse import unquote_plus

            name, value = unquote_plus(name), unquote_plus(value)
        result[name] = value
    return result


class HttpServer(ConnServer):
    def __init__(self, state: State, request_log: str, keep_alive_during_drain: bool = False) -> None:
        super().__init__()
        self._state = state
        self._request_log = request_log
        self._keep_alive_during_drain = keep_alive_during_drain

    async def _next_event(self, h: h11.Connection, conn: Conn, reader: asyncio.StreamReader) -> object:
        while True:
            event = h.next_event()
            if event is not h11.NEED_DATA:
                return event
            conn.idle = h.their_state is h11.IDLE and not h.trailing_data[0]
            if conn.idle and self._closing:
                return h11.ConnectionClosed()
            data = await reader.read(READ_SIZE)
            conn.idle = False
            h.receive_data(data)

    async def _serve(self, conn: Conn, reader: asyncio.StreamReader) -> None:
        h = h11.Connection(h11.SERVER)
        writer = conn.writer
        peer = writer.get_extra_info("peername") or ("", 0)
        local = writer.get_extra_info("sockname") or ("", 0)
        scheme = "https" if writer.get_extra_info("ssl_object") is not None else "http"
        while True:
            try:
                event = await self._next_event(h, conn, reader)
                if not isinstance(event, h11.Request):
                    return  # ConnectionClosed, or the peer's half of a closed cycle
                started = time.monotonic()
                body_bytes = 0
                while not isinstance(part := await self._next_event(h, conn, reader), h11.EndOfMessage):
                    if isinstance(part, h11.Data):
                        body_bytes += len(part.data)
                    elif isinstance(part, h11.ConnectionClosed):
                        return
            except h11.RemoteProtocolError as e:
                if h.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    await self._send(h, writer, "GET", Response(e.error_status_hint, f"{e}\n".encode()), True)
                return
            conn.requests += 1
            target = event.target.decode("latin-1")
            request = Request(
                method=event.method.decode("latin-1"),
                target=target,
                query=parse_query(target.partition("?")[2]),
                http_version=event.http_version.decode("latin-1"),
                # As the client spelled them (h11 lowercases the names it hands out): /headers shows a
                # probe's httpHeaders exactly as sent.
                headers=[(n.decode("latin-1"), v.decode("latin-1")) for n, v in event.headers.raw_items()],
                body_bytes=body_bytes,
                peer=(peer[0], peer[1]),
                local=(local[0], local[1]),
                on_connection=conn.requests,
                scheme=scheme,
            )
            response = await handle(self._state, request)
            if response.hang:
                self._log(request, "hanging: will never answer", started)
                await discard_until_closed(reader)
                return
            close = self._closing or (self._state.draining and not self._keep_alive_during_drain)
            await self._send(h, writer, request.method, response, close)
            self._log(request, f"{response.status} {len(response.body)}B", started)
            if response.after is not None:
                response.after()
            if h.our_state is h11.MUST_CLOSE:
                return
            h.start_next_cycle()

    async def _send(
        self, h: h11.Connection, writer: asyncio.StreamWriter, method: str, response: Response, close: bool
    ) -> None:
        # 204 and 304 answers have no body by definition (?code= may ask for them); HEAD answers
        # announce the body they do not carry.
        body = b"" if response.status in (204, 304) else response.body
        headers = [
            (b"content-type", response.content_type.encode()),
            (b"server", SERVER_HEADER),
            # On every answer, so a load generator can attribute each request to a pod
            # without parsing bodies.
            (b"x-pod-name", self._state.pod.encode()),
        ]
        headers.extend(response.headers)
        if response.status != 204:
            headers.append((b"content-length", str(len(body)).encode()))
        if close:
            # h11 then closes our side after this response; the client learns it should not
            # send another request on this connection, rather than finding it closed.
            headers.append((b"connection", b"close"))
        head = h11.Response(status_code=response.status, headers=headers, reason=reason(response.status))
        out = h.send(head) or b""
        if method != "HEAD" and body:
            out += h.send(h11.Data(data=body)) or b""
        out += h.send(h11.EndOfMessage()) or b""
        writer.write(out)
        await writer.drain()

    def _log(self, req: Request, outcome: str, started: float) -> None:
        if self._request_log == "none" or (self._request_log == "app" and req.path in HEALTH_PATHS):
            return
        log(
            f'request {format_address(req.peer)} "{req.method} {req.target} HTTP/{req.http_version}" '
            f"{outcome} {time.monotonic() - started:.3f}s (request {req.on_connection} on its connection)"
        )
