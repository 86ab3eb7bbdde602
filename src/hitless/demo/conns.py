"""Listeners and connection bookkeeping shared by the HTTP(S) and the gRPC servers.

The drain is built from the same steps as Go's ``http.Server.Shutdown``, which most real
services inherit: close the listeners, close the connections that sit idle between requests,
let the others finish their current request, and give up after a timeout. Each protocol says how
it serves a connection and how it tells a busy one to go away; the steps are the same.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from hitless.demo.log import log

TYPE_CHECKING = False  # not typing's: see hitless.cli.main
if TYPE_CHECKING:
    import ssl

READ_SIZE = 65536


def format_address(sockname: tuple[str, int] | tuple[str, int, int, int]) -> str:
    host, port = sockname[0], sockname[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Conn:
    __slots__ = ("go_away", "idle", "requests", "writer")

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        # True while no request is in progress: the state in which a draining server may close
        # the connection without cutting a request.
        self.idle = True
        self.requests = 0
        # Tells the peer of a busy connection to send no new request (gRPC's GOAWAY); HTTP/1.1 has
        # no such message and answers the request in progress with "Connection: close" instead.
        self.go_away: Callable[[], None] | None = None


class ConnServer:
    """Listeners on several ports and the connections they accepted; ``_serve`` speaks the protocol."""

    def __init__(self) -> None:
        self._listeners: list[asyncio.Server] = []
        self._conns: set[Conn] = set()
        self._no_conns = asyncio.Event()
        self._no_conns.set()
        self._closing = False

    async def listen(
        self, address: str, ports: list[int], label: str = "", tls: ssl.SSLContext | None = None
    ) -> None:
        """Listen on each port; ``label`` (e.g. ``https``) follows the log line's address."""
        suffix = f" ({label})" if label else ""
        for port in ports:
            # A large backlog: benchmarks open hundreds of connections at once, and a full
            # backlog would show up as dropped requests that are not the rollout's fault.
            listener = await asyncio.start_server(
                self._on_connection, address or None, port, backlog=1024, ssl=tls
            )
            self._listeners.append(listener)
            for sock in listener.sockets:
                log(f"listening on {format_address(sock.getsockname())}{suffix}")

    def close_listeners(self) -> None:
        for listener in self._listeners:
            listener.close()
        self._listeners.clear()

    def close_idle(self) -> int:
        """Close the connections between requests; from now on connections close when idle."""
        self._closing = True
        idle = [c for c in self._conns if c.idle]
        for conn in self._conns:
            if not conn.idle and conn.go_away is not None:
                conn.go_away()
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
        conn = Conn(writer)
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

    async def _serve(self, conn: Conn, reader: asyncio.StreamReader) -> None:
        raise NotImplementedError


async def discard_until_closed(reader: asyncio.StreamReader) -> None:
    # A hanging endpoint holds the connection open without answering; reading on until the
    # client gives up frees the socket then, instead of keeping it until the process exits.
    while await reader.read(READ_SIZE):
        pass
