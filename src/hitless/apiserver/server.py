"""The API server: HTTPS on loopback in the engine's event loop, beside the store.

aiohttp's server runs on the running loop (``AppRunner`` and ``TCPSite``) and installs no signal
handlers of its own, so ``hitless up`` keeps its Ctrl-C handling. Every request must carry this
run's client certificate or admin token (the admin, in ``system:masters``: always allowed) or a
service-account token this server issued to a pod (serviceaccount.py), whose requests the RBAC
authorizer decides (rbac.py, 403 in kube-apiserver's words); anything else is answered 401 as
kube-apiserver answers it. Starting also makes what the control plane keeps beside the API
(controlplane.py) and installs the ServiceAccount admission of pods (admission.py). The server is
a long-running task of the run (``tasks.spawn``).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from hitless import tasks
from hitless.apiserver import certs, status
from hitless.apiserver.admission import ServiceAccountAdmission
from hitless.apiserver.certs import Credentials
from hitless.apiserver.controlplane import ControlPlane
from hitless.apiserver.impersonation import impersonated
from hitless.apiserver.proxy import Dial
from hitless.apiserver.rbac import Authorizer, forbidden_message
from hitless.apiserver.requestinfo import request_attributes
from hitless.apiserver.rest import Rest
from hitless.apiserver.rest_util import USER, status_response
from hitless.apiserver.serviceaccount import ADMIN, API_AUDIENCES, ServiceAccountTokens, TokenError, UserInfo
from hitless.apiserver.status import ApiError
from hitless.clock import Clock
from hitless.store.store import Store

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LOOPBACK = ("127.0.0.1", "localhost", "::1")
_log = logging.getLogger("hitless.apiserver")
# The names a pod reaches the API server by (kube-apiserver's default alternate names).
SERVICE_NAMES = (
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)


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
        self._runner: web.AppRunner | None = None
        self._task: asyncio.Task[None] | None = None
        self.rest: Rest | None = None
        self._ready = asyncio.Event()
        self.tokens = ServiceAccountTokens(self.store, self.clock)
        self.authorizer = Authorizer(self.store)
        self.control_plane = ControlPlane(self.store)
        self._control_task: asyncio.Task[None] | None = None
        self._admission = ServiceAccountAdmission(self.store)

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host == "localhost" else self.host
        return f"https://{host}:{self.port}"

    def authenticate(self, request: web.Request) -> UserInfo | None:
        """The request's user: the run's admin (client certificate or admin token), a service
        account (its bound token), or None (401)."""
        assert self.credentials is not None
        transport = request.transport
        if transport is not None and transport.get_extra_info("peercert"):
            # The TLS layer verified it against this run's CA (certs.Credentials.server_context),
            # which signs only the admin's client certificate.
            return ADMIN
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        try:
            return self.authenticate_token(token.strip())
        except TokenError as exc:
            # The authentication filter's "Unable to authenticate the request"; the client
            # only learns 401.
            _log.info("Unable to authenticate the request: %s", exc)
            return None

    def authenticate_token(self, token: str, audiences: list[str] | None = None) -> UserInfo:
        """The bearer-token authenticators: the admin's static token, then service-account tokens."""
        assert self.credentials is not None
        if audiences in (None, list(API_AUDIENCES)) and hmac.compare_digest(
            token.encode(), self.credentials.token.encode()
        ):
            return ADMIN
        return self.tokens.authenticate(token, tuple(audiences or API_AUDIENCES))

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        user = self.authenticate(request)
        if user is None:
            return status_response(status.unauthorized())
        try:
            user = impersonated(self.authorizer, user, request.headers) or user
        except ApiError as err:
            return status_response(err)
        request[USER] = user
        if not user.privileged:
            attrs = request_attributes(user, request.method, request.path, request.query)
            decision = self.authorizer.authorize(attrs)
            if not decision.allowed:
                return status_response(status.forbidden(attrs, forbidden_message(attrs, decision.reason)))
        return await handler(request)

    async def start(self) -> None:
        """Listen; returns once the port is bound (``port`` then holds the real one)."""
        plane = self.control_plane
        plane.ensure_namespaces()
        plane.ensure_policy()
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        cluster_ip = plane.ensure_master_service(self.port)
        if self.credentials is None:
            # The serving certificate names every address a client may dial: loopback, and the
            # `kubernetes` Service's cluster IP and DNS names that pods use (in-cluster config).
            self.credentials = certs.generate(
                ("127.0.0.1", "localhost", self.host, cluster_ip, *SERVICE_NAMES)
            )
        plane.ca_pem = self.credentials.ca_pem.decode()
        plane.ensure_master_endpoints("127.0.0.1" if self.host == "localhost" else self.host, self.port)
        plane.ensure_all_namespaces()
        if self._admission not in self.store.admission:
            self.store.admission.append(self._admission)
        server_address = f"{self.host}:{self.port}"
        self.rest = Rest(self.store, self.clock, self.log_root, server_address)
        self.rest.dial = self.dial
        self.rest.authorizer = self.authorizer
        self.rest.tokens = self.tokens
        self.rest.authenticate_token = self.authenticate_token
        app = web.Application(middlewares=[self._auth], client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.rest.handle)
        # handler_cancellation: a watch or `logs -f` whose client went away ends at once (its
        # subscription freed) instead of at its next write.
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=1.0, handler_cancellation=True
        )
        await self._runner.setup()
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
        self._control_task = tasks.spawn("apiserver control plane", self.control_plane.run())

    async def stop(self) -> None:
        if self._admission in self.store.admission:
            self.store.admission.remove(self._admission)
        await tasks.cancel_and_wait(self._control_task)
        if self._task is not None:
            task, self._task = self._task, None
            await tasks.cancel_and_wait(task)
        await self._close()
