"""HTTP/1.1 over asyncio streams with h11: keep-alive, pipelining, and the pieces of a drain.

The drain is built from the same steps as Go's ``http.Server.Shutdown``, which most real
services inherit: close the listeners, close the connections that sit idle between requests,
let the others finish their current request (answered with ``Connection: close``), and give up
after a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import h11

from hitless import __version__
from hitless.demo.log import log
from hitless.demo.routes import HEALTH_PATHS, Request, Response, State, handle

READ_SIZE = 65536
SERVER_HEADER = f"hitless-demo-app/{__version__}".encode()


# The statuses the app answers itself; ?code=N may ask for any other, looked up on demand.
REASONS = {
    200: b"OK",
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


def format_address(sockname: tuple[str, int] | tuple[str, int, int, int]) -> str:
    host, port = sockname[0], sockname[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


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


class _Conn:
    __slots__ = ("idle", "requests", "writer")

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        # True while waiting for the first byte of a next request: the state in which a
        # draining server may close a keep-alive connection without cutting a request.
        self.idle = True
        self.requests = 0


class HttpServer:
    def __init__(self, state: State, request_log: str, keep_alive_during_drain: bool = False) -> None:
        self._state = state
        self._request_log = request_log
        self._keep_alive_during_drain = keep_alive_during_drain
        self._listeners: list[asyncio.Server] = []
        self._conns: set[_Conn] = set()
        self._no_conns = asyncio.Event()
        self._no_conns.set()
        self._closing = False

    async def listen(self, address: str, ports: list[int]) -> None:
        for port in ports:
            # A large backlog: benchmarks open hundreds of connections at once, and a full
            # backlog would show up as dropped requests that are not the rollout's fault.
            listener = await asyncio.start_server(self._on_connection, address or None, port, backlog=1024)
            self._listeners.append(listener)
            for sock in listener.sockets:
                log(f"listening on {format_address(sock.getsockname())}")

    def close_listeners(self) -> None:
        for listener in self._listeners:
            listener.close()
        self._listeners.clear()

    def close_idle(self) -> int:
        """Close the connections between requests; from now on connections close when idle."""
        self._closing = True
        idle = [c for c in self._conns if c.idle]
        for conn in idle:
            conn.writer.close()
        return len(idle)

    def in_flight(self) -> int:
        return sum(1 for c in self._conns if not c.idle)

    async def wait_closed(self, within: float) -> int:
        """Wait until every connection has closed, for at most ``within`` s; how many are left."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._no_conns.wait(), within)
        return len(self._conns)

    def close_all(self) -> int:
        count = len(self._conns)
        for conn in list(self._conns):
            conn.writer.close()
        return count

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Conn(writer)
        self._conns.add(conn)
        self._no_conns.clear()
        try:
            await self._serve(conn, reader)
        except (ConnectionError, TimeoutError):
            pass  # the client went away; nothing to answer
        except Exception as e:
            # One line in the app's log rather than asyncio's traceback on stderr; the connection
            # closes, the app carries on serving the others.
            log(
                f"error on connection {format_address(writer.get_extra_info('peername') or ('?', 0))}: "
                f"{type(e).__name__}: {e}"
            )
        finally:
            self._conns.discard(conn)
            if not self._conns:
                self._no_conns.set()
            writer.close()

    async def _next_event(self, h: h11.Connection, conn: _Conn, reader: asyncio.StreamReader) -> object:
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

    async def _serve(self, conn: _Conn, reader: asyncio.StreamReader) -> None:
        h = h11.Connection(h11.SERVER)
        writer = conn.writer
        peer = writer.get_extra_info("peername") or ("", 0)
        local = writer.get_extra_info("sockname") or ("", 0)
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
                headers=[(n.decode("latin-1"), v.decode("latin-1")) for n, v in event.headers],
                body_bytes=body_bytes,
                peer=(peer[0], peer[1]),
                local=(local[0], local[1]),
                on_connection=conn.requests,
            )
            response = await handle(self._state, request)
            if response.hang:
                self._log(request, "hanging: will never answer", started)
                await _discard_until_closed(reader)
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


async def _discard_until_closed(reader: asyncio.StreamReader) -> None:
    # A hanging endpoint holds the connection open without answering; reading on until the
    # client gives up frees the socket then, instead of keeping it until the process exits.
    while await reader.read(READ_SIZE):
        pass
