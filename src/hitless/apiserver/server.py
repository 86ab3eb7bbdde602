"""The API server: HTTPS on loopback in the engine's event loop, beside the store.

aiohttp's server runs on the running loop (``AppRunner`` and ``TCPSite``) and installs no signal
handlers of its own, so ``hitless up`` keeps its Ctrl-C handling. Every request must carry this
run's client certificate or bearer token; anything else is answered 401 as kube-apiserver
answers it. The server is a long-running task of the run (``tasks.spawn``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from hitless import tasks
from hitless.api.types.meta import K8sObject
from hitless.apiserver import certs, status
from hitless.apiserver.certs import Credentials
from hitless.apiserver.proxy import Dial
from hitless.apiserver.rest import Rest
from hitless.apiserver.rest_util import status_response
from hitless.clock import Clock
from hitless.store.store import AlreadyExists, Store

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LOOPBACK = ("127.0.0.1", "localhost", "::1")


# pkg/controlplane/controller/systemnamespaces: kube-apiserver makes these and keeps them.
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def ensure_system_namespaces(store: Store) -> None:
    for name in SYSTEM_NAMESPACES:
        if store.get("Namespace", "", name) is not None:
            continue
        namespace = K8sObject.model_validate(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            }
        )
        with contextlib.suppress(AlreadyExists):
            store.create(namespace)


def parse_listen(text: str) -> tuple[str, int]:
    """``[HOST:]PORT`` on loopback; port 0 picks a free one."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if host not in LOOPBACK and not host.startswith("127."):
        raise ValueError(f"--api: {host} is not a loopback address; the API server listens on loopback only")
    try:
        number = int(port)
    except ValueError as exc:
        raise ValueError(f"--api: {port!r} is not a port number") from exc
    if not 0 <= number < 65536:
        raise ValueError(f"--api: {number} is not a port number")
    return host, number


@dataclass
class ApiServer:
    store: Store
    clock: Clock
    log_root: Path
    host: str = "127.0.0.1"
    port: int = 0
    credentials: Credentials | None = None
    # The pod network's dial (the engine's), for pods/proxy; None: the proxy answers 503.
    dial: Dial | None = None

    def __post_init__(self) -> None:
        self.credentials = self.credentials or certs.generate()
        self._runner: web.AppRunner | None = None
        self._task: asyncio.Task[None] | None = None
        self.rest: Rest | None = None
        self._ready = asyncio.Event()

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host == "localhost" else self.host
        return f"https://{host}:{self.port}"

    def _authenticated(self, request: web.Request) -> bool:
        assert self.credentials is not None
        transport = request.transport
        if transport is not None and transport.get_extra_info("peercert"):
            # The TLS layer verified it against this run's CA (certs.Credentials.server_context).
            return True
        header = request.headers.get("Authorization", "")
        return header == f"Bearer {self.credentials.token}"

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not self._authenticated(request):
            return status_response(status.unauthorized())
        return await handler(request)

    async def start(self) -> None:
        """Listen; returns once the port is bound (``port`` then holds the real one)."""
        assert self.credentials is not None
        ensure_system_namespaces(self.store)
        server_address = f"{self.host}:{self.port}"
        self.rest = Rest(self.store, self.clock, self.log_root, server_address)
        self.rest.dial = self.dial
        app = web.Application(middlewares=[self._auth], client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.rest.handle)
        # handler_cancellation: a watch or `logs -f` whose client went away ends at once (its
        # subscription freed) instead of at its next write.
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=1.0, handler_cancellation=True
        )
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self.rest.server_address = f"{self.host}:{self.port}"
        site = web.SockSite(self._runner, sock, ssl_context=self.credentials.server_context())
        await site.start()

    async def _serve(self) -> None:
        # Requests are served by the site's own tasks; this task holds the server for the run
        # and closes it (open watches and log streams included) when cancelled.
        try:
            await asyncio.Event().wait()
        finally:
            await self._close()

    async def _close(self) -> None:
        if self.rest is not None:
            self.rest.stopping.set()
            self.rest.broadcaster.close_all()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    def spawn(self) -> None:
        """Keep serving as a task of the run (after :meth:`start`)."""
        self._task = tasks.spawn("apiserver", self._serve())

    async def stop(self) -> None:
        if self._task is not None:
            task, self._task = self._task, None
            await tasks.cancel_and_wait(task)
        await self._close()
