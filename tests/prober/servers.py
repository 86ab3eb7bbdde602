"""A raw HTTP/1.1 server for the HTTP prober's tests: it records what arrives, answers with bytes.

A handler gets the request (method, target, headers in the order they came) and returns the raw
bytes to send before closing; bytes ending with HANG are sent and the connection then stays open.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

HANG = b"<hang>"


@dataclass
class Seen:
    method: str
    target: str
    headers: list[tuple[str, str]]

    def header(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


Handler = Callable[[Seen], bytes | Awaitable[bytes]]


def response(status: int, body: bytes = b"", headers: list[tuple[str, str]] | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status} Whatever", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers or []]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class RawServer:
    handler: Handler
    host: str = "127.0.0.1"
    ssl: ssl.SSLContext | None = None
    seen: list[Seen] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, 0, ssl=self.ssl)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for w in list(self._writers):
            w.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")[:-2]
            method, target, _ = lines[0].split(" ", 2)
            seen = Seen(method, target, [tuple(line.split(": ", 1)) for line in lines[1:]])  # type: ignore[misc]
            self.seen.append(seen)
            answer = self.handler(seen)
            if not isinstance(answer, bytes):
                answer = await answer
            writer.write(answer.removesuffix(HANG))
            await writer.drain()
            if answer.endswith(HANG):
                await reader.read()  # until the client goes away
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
