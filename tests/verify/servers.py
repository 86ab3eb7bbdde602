"""A small keep-alive HTTP/1.1 server on 127.0.0.1 whose misbehaviour the test chooses per path.

- ``/``            200 with a short body, keep-alive unless the request says close;
- ``/slow``        answers after ``slow`` seconds;
- ``/hang``        never answers;
- ``/reset``       resets the connection (SO_LINGER 0) without answering;
- ``/500``         answers 500;
- ``close_reused`` closes a connection, without a byte, when a second request arrives on it
                   (what a server's idle timeout does to a client that reuses the connection).
"""

from __future__ import annotations

import asyncio
import socket
import struct
from dataclasses import dataclass, field

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
ERROR = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"


@dataclass
class Behaviour:
    slow: float = 0.5
    close_reused: bool = False


class _Handler(asyncio.Protocol):
    def __init__(self, server: TestServer) -> None:
        self.server = server
        self.buffer = b""
        self.served = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server.peers.append(transport.get_extra_info("peername"))
        self.server.transports.add(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.server.transports.discard(self.transport)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            if self.served and self.server.behaviour.close_reused:
                self.transport.close()
                return
            self.served += 1
            self.server.requests += 1
            target = head.split(b" ", 2)[1]
            close = b"connection: close" in head.lower()
            self._answer(target, close)

    def _answer(self, target: bytes, close: bool) -> None:
        assert self.transport is not None
        transport = self.transport
        if target == b"/hang":
            return
        if target == b"/reset":
            sock = transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
            return
        body = ERROR if target == b"/500" else OK

        def send() -> None:
            if transport.is_closing():
                return
            transport.write(body)
            if close:
                transport.close()

        if target == b"/slow":
            asyncio.get_running_loop().call_later(self.server.behaviour.slow, send)
        else:
            send()


@dataclass
class TestServer:
    behaviour: Behaviour = field(default_factory=Behaviour)
    host: str = "127.0.0.1"
    port: int = 0
    requests: int = 0
    peers: list[tuple[str, int]] = field(default_factory=list)
    transports: set[asyncio.Transport] = field(default_factory=set)
    _server: asyncio.Server | None = None

    __test__ = False  # not a pytest class

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Handler(self), self.host, self.port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for transport in list(self.transports):
            transport.abort()
        await self._server.wait_closed()
