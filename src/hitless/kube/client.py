"""The one module that talks to an API server: requests, list+watch.

Its Credentials (kubeconfig or in-cluster: host, TLS, auth) come from config.py. The requests
go over aiohttp in the run's own event loop, not through the official client's sync API in
threads nor its ``kubernetes.aio`` variant: a watch must be a stream the run can cancel at once
and put an idle timeout on (a thread blocked in a read cannot be cancelled, the sync client has
no read timeout by default — kubernetes-client/python#1148 — and ``kubernetes.aio`` is months
old), and raw JSON is what the run wants anyway (hitless has its own API types).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp

from hitless.clock import Clock
from hitless.kube.config import Credentials

JSON = dict[str, Any]


class ApiError(Exception):
    """A non-2xx answer: its code and the Status message the server gave."""

    def __init__(self, code: int, message: str, reason: str = "", details: JSON | None = None) -> None:
        super().__init__(f"{code} {reason}: {message}" if reason else f"{code}: {message}")
        self.code = code
        self.message = message
        self.reason = reason
        # The Status's details (its causes: a PodDisruptionBudget's, a field's).
        self.details = details or {}


class KubeClient:
    """JSON requests to one API server."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> KubeClient:
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self.credentials.ssl))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    def _url(self, path: str, query: dict[str, str] | None) -> str:
        return self.credentials.host + path + ("?" + urlencode(query) if query else "")

    def _headers(self, content_type: str | None) -> dict[str, str]:
        headers = dict(self.credentials.headers)
        if self.credentials.token_file is not None:
            try:
                with open(self.credentials.token_file) as f:
                    token = f.read().strip()
            except OSError:
                token = ""  # the last one read stays
            if token:
                headers["Authorization"] = f"Bearer {token}"
        headers["Accept"] = "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float = 30.0,
    ) -> JSON:
        """The answer's JSON; a non-2xx answer raises :class:`ApiError`."""
        assert self._session is not None, "use KubeClient as an async context manager"
        data = None if body is None else json.dumps(body).encode()
        async with self._session.request(
            method,
            self._url(path, query),
            data=data,
            headers=self._headers(content_type if data is not None else None),
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as resp:
            text = await resp.text()
            try:
                answer = json.loads(text) if text else {}
            except ValueError:
                answer = {"message": text}
            if resp.status >= 300:
                raise ApiError(
                    resp.status, answer.get("message", text), answer.get("reason", ""), answer.get("details")
                )
            return answer if isinstance(answer, dict) else {"items": answer}

    async def can_i(
        self, verb: str, resource: str, group: str = "", namespace: str = "", subresource: str = ""
    ) -> bool:
        """``kubectl auth can-i``: one SelfSubjectAccessReview."""
        attrs = {"verb": verb, "resource": resource, "group": group}
        if namespace:
            attrs["namespace"] = namespace
        if subresource:
            attrs["subresource"] = subresource
        review = await self.request(
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            body={
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": attrs},
            },
        )
        return bool(review.get("status", {}).get("allowed"))

    async def watch_lines(
        self, path: str, query: dict[str, str], idle_timeout: float
    ) -> aiohttp.ClientResponse:
        """Open a watch stream; the caller reads it line by line under ``idle_timeout``."""
        assert self._session is not None
        resp = await self._session.get(
            self._url(path, query),
            headers=self._headers(None),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=idle_timeout, sock_read=idle_timeout),
        )
        if resp.status >= 300:
            text = await resp.text()
            resp.release()
            try:
                status = json.loads(text)
            except ValueError:
                status = {"message": text}
            raise ApiError(resp.status, status.get("message", text), status.get("reason", ""))
        return resp


@dataclass
class Gap:
    """A stretch of time the watch may have missed changes in (runner's clock)."""

    resource: str
    start: float
    end: float
    why: str


# client-go's reflector backoff starts at 800 ms (tools/cache/reflector.go NewReflectorWithOptions).
SHORT_WATCH_BACKOFF = 0.8

EventHandler = Callable[[str, JSON, float], Awaitable[None] | None]


def _key(obj: JSON) -> tuple[str, str]:
    meta = obj.get("metadata", {})
    return meta.get("namespace", ""), meta.get("name", "")


@dataclass
class Reflector:
    """List, then watch from the list's resourceVersion with bookmarks; keep a cache.

    The shape of client-go's reflector (tools/cache/reflector.go ListAndWatch). A 410 (at connect
    or as an in-stream ERROR event) is answered by listing again and diffing against the cache:
    objects that vanished get a synthesised DELETED, and the time between losing the watch and the
    new list is recorded as a gap. A stream silent for ``idle_timeout`` (about twice the server's
    bookmark interval) is taken for a dead connection and restarted from the last version seen.
    Every event is stamped on arrival with the runner's clock: the API's own timestamps have
    whole-second precision.
    """

    client: KubeClient
    path: str  # /api/v1/namespaces/NS/pods
    clock: Clock
    on_event: EventHandler
    label_selector: str = ""
    idle_timeout: float = 130.0
    cache: dict[tuple[str, str], JSON] = field(default_factory=dict)
    gaps: list[Gap] = field(default_factory=list)
    synced: asyncio.Event = field(default_factory=asyncio.Event)
    # Set at each gap recorded.
    gap: asyncio.Event = field(default_factory=asyncio.Event)
    field_selector: str = ""
    _rv: str = ""
    _pending: tuple[float, str] | None = None
    _heard: float = 0.0
    _events: int = 0

    @property
    def resource(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    def _query(self) -> dict[str, str]:
        query = {"labelSelector": self.label_selector} if self.label_selector else {}
        if self.field_selector:
            query["fieldSelector"] = self.field_selector
        return query

    async def _emit(self, kind: str, obj: JSON, at: float) -> None:
        result = self.on_event(kind, obj, at)
        if result is not None:
            await result

    async def _list(self) -> None:
        listed = await self.client.request("GET", self.path, query=self._query())
        at = self.clock.now()
        self._rv = listed.get("metadata", {}).get("resourceVersion", "")
        fresh = {_key(o): o for o in listed.get("items") or []}
        for key, old in list(self.cache.items()):
            if key not in fresh:
                del self.cache[key]
                await self._emit("DELETED", old, at)
        for key, obj in fresh.items():
            known = self.cache.get(key)
            if known is None or known.get("metadata", {}).get("resourceVersion") != obj.get(
                "metadata", {}
            ).get("resourceVersion"):
                self.cache[key] = obj
                await self._emit("ADDED" if known is None else "MODIFIED", obj, at)
        self.synced.set()

    async def run(self) -> None:
        await self._list()
        await self.follow()

    async def follow(self) -> None:
        """Watch from the last version listed or seen, for ever (until cancelled).

        Every stretch between one stream ending and the view being whole again is a gap: the
        next stream open (resumed from the last resourceVersion: the server replays what changed
        meanwhile, stamped late), or after a 410 the re-list. A server closes every watch now
        and then (kube-apiserver after ``--min-request-timeout``, 30 to 60 min), so gaps are
        ordinary; each is in the report because in it the arrival times are late.
        """
        backoff = SHORT_WATCH_BACKOFF
        while True:
            opened = self.clock.now()
            try:
                why = await self._watch()
            except ApiError as exc:
                if exc.code != 410:
                    raise
                why = "410 Gone at connect"
            except (TimeoutError, aiohttp.ClientError) as exc:
                # A dead link is known only when the idle timeout fires: the view may have been
                # stale since the stream last spoke.
                since = self._heard if self._heard >= opened else opened
                self._lose(since, f"watch stream failed: {type(exc).__name__}")
                if self._heard < opened:  # refused at connect: the server is down or restarting
                    await self.clock.sleep(backoff)
                    backoff = min(backoff * 2, 30.0)
                continue
            if why is None:
                why = "watch closed by the server"
                self._lose(self.clock.now(), why)
                # tools/cache/reflector.go watchHandler: a watch that ends within a second with
                # no event is an error ("very short watch"), and ListAndWatch starts over with a
                # list after a backoff (wait.BackoffUntil): a server that closes every watch at
                # once must not be hammered.
                if self._events == 0 and self.clock.now() - opened < 1.0:
                    await self.clock.sleep(backoff)
                    backoff = min(backoff * 2, 30.0)
                    await self._list()
                    self._close_gap()
                else:
                    backoff = SHORT_WATCH_BACKOFF
                continue
            if why.startswith("410"):
                self._lose(self.clock.now(), why)
                await self._list()
                self._close_gap()
            else:
                self._lose(self.clock.now(), why)

    def _lose(self, at: float, why: str) -> None:
        # A gap already open keeps its start: the view has been stale since then.
        if self._pending is None:
            self._pending = (at, why)

    def _close_gap(self) -> None:
        if self._pending is not None:
            start, why = self._pending
            self._pending = None
            self.gaps.append(Gap(self.resource, start, self.clock.now(), why))
            self.gap.set()

    async def _watch(self) -> str | None:
        """Follow one watch stream; the reason it ended when that means a gap."""
        query = {**self._query(), "watch": "true", "allowWatchBookmarks": "true"}
        query["resourceVersion"] = self._rv
        resp = await self.client.watch_lines(self.path, query, self.idle_timeout)
        # Open again from the last version seen: what changed meanwhile is replayed now.
        self._heard = self.clock.now()
        self._events = 0
        self._close_gap()
        try:
            while True:
                line = await resp.content.readline()
                if not line:
                    return None
                self._heard = self.clock.now()
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                # kubernetes-client/python-base#57: an ERROR carries a Status, not an object.
                if kind == "ERROR":
                    code = obj.get("code")
                    return f"{code} {obj.get('reason', '')}: {obj.get('message', '')}"
                rv = obj.get("metadata", {}).get("resourceVersion")
                if rv:
                    self._rv = rv
                if kind == "BOOKMARK":
                    continue
                self._events += 1
                at = self.clock.now()
                if kind == "DELETED":
                    self.cache.pop(_key(obj), None)
                else:
                    self.cache[_key(obj)] = obj
                await self._emit(str(kind), obj, at)
        finally:
            resp.release()
