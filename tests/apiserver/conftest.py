"""An API server over a bare store (no engine), reached over HTTPS as clients reach it."""

from __future__ import annotations

import ssl
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hitless.apiserver.server import ApiServer
from hitless.clock import RealClock
from hitless.store.store import Store


@dataclass
class Served:
    server: ApiServer
    store: Store
    session: aiohttp.ClientSession
    log_root: Path

    @property
    def url(self) -> str:
        return self.server.url

    async def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any, aiohttp.ClientResponse]:
        async with self.session.request(method, self.url + path, json=body, headers=headers) as resp:
            text = await resp.text()
            try:
                import json

                data = json.loads(text)
            except ValueError:
                data = text
            return resp.status, data, resp


def client_ssl(server: ApiServer, with_cert: bool = True) -> ssl.SSLContext:
    creds = server.credentials
    assert creds is not None
    ctx = ssl.create_default_context(cadata=creds.ca_pem.decode())
    if with_cert:
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = Path(tmp) / "c.crt", Path(tmp) / "c.key"
            cert.write_bytes(creds.client_cert_pem)
            key.write_bytes(creds.client_key_pem)
            ctx.load_cert_chain(cert, key)
    return ctx


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    store = Store(RealClock(), history=50)
    server = ApiServer(store, RealClock(), tmp_path / "logs")
    await server.start()
    server.spawn()
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ssl(server)))
    try:
        yield Served(server, store, session, tmp_path / "logs")
    finally:
        await session.close()
        await server.stop()
