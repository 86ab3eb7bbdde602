"""Watches: the store's changes fanned out to every watching client.

One store listener feeds every client's queue (a check of kind and namespace each, no
serialization in the store's write path); each client's stream serializes what it sends through
the shared :class:`~hitless.apiserver.encode.Encoder`, so an event is turned into JSON once
however many clients watch it. Semantics from the API server's watch cache
(staging/src/k8s.io/apiserver/pkg/storage/cacher): a watch from ``resourceVersion`` N replays
the changes after N (``410 Gone``, "too old resource version", once they are no longer kept),
from "0" or unset it starts with an ADDED per current object, ``sendInitialEvents=true`` ends
those with the ``k8s.io/initial-events-end`` bookmark (watch-list, on by default from client-go
1.35), ``allowWatchBookmarks`` gets a BOOKMARK at least every minute, and with a selector an
object entering it is ADDED and one leaving it DELETED.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from hitless.api.types.meta import K8sObject
from hitless.apiserver import status
from hitless.apiserver.encode import dumps
from hitless.apiserver.selectors import Selector
from hitless.store.store import Store, WatchEvent

if TYPE_CHECKING:
    from hitless.apiserver.rest import Rest, Target

INITIAL_EVENTS_END = "k8s.io/initial-events-end"

# A client this far behind is dropped, as the watch cache drops a watcher whose buffer is full.
CLIENT_QUEUE_LIMIT = 10_000
BOOKMARK_INTERVAL_S = 60.0


@dataclass
class Subscription:
    kind: str
    namespace: str | None
    queue: asyncio.Queue[WatchEvent | None] = field(default_factory=asyncio.Queue)
    overflowed: bool = False


class Broadcaster:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._subs: dict[str, list[Subscription]] = {}
        store.add_listener(self._on_event)

    def subscribe(self, kind: str, namespace: str | None) -> Subscription:
        sub = Subscription(kind, namespace)
        self._subs.setdefault(kind, []).append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.kind, [])
        if sub in subs:
            subs.remove(sub)

    def close_all(self) -> None:
        for subs in self._subs.values():
            for sub in subs:
                sub.queue.put_nowait(None)
        self._subs.clear()

    def _on_event(self, event: WatchEvent) -> None:
        subs = self._subs.get(event.object.kind)
        if not subs:
            return
        namespace = event.object.metadata.namespace
        for sub in list(subs):
            if sub.namespace is not None and sub.namespace != namespace:
                continue
            if sub.queue.qsize() >= CLIENT_QUEUE_LIMIT:
                sub.overflowed = True
                self.unsubscribe(sub)
                sub.queue.put_nowait(None)
                continue
            sub.queue.put_nowait(event)


class Filter:
    """An object entering a selected set is ADDED to the watcher, one leaving it DELETED."""

    def __init__(self, matches: Callable[[WatchEvent], bool], selective: bool) -> None:
        self._matches = matches
        self._selective = selective
        self._in: set[tuple[str, str]] = set()

    def seed(self, key: tuple[str, str]) -> None:
        self._in.add(key)

    def translate(self, event: WatchEvent) -> str | None:
        if not self._selective:
            return event.type
        if event.type == "ADDED":
            if self._matches(event):
                self._in.add(_key(event.object))
                return "ADDED"
            return None
        key = _key(event.object)
        was = key in self._in
        if event.type == "DELETED":
            self._in.discard(key)
            return "DELETED" if was else None
        now = self._matches(event)
        if now:
            self._in.add(key)
            return "MODIFIED" if was else "ADDED"
        if was:
            self._in.discard(key)
            return "DELETED"
        return None


def _key(obj: K8sObject) -> tuple[str, str]:
    return (obj.metadata.namespace or "", obj.name)


def _query_flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("true", "1")


async def serve_watch(rest: Rest, request: web.Request, target: Target) -> web.StreamResponse:
    """``GET ...?watch=true``: a chunked stream of watch events, one JSON object per line."""
    r = target.resource
    store, encoder = rest.store, rest.encoder
    selector = Selector.parse(request.query.get("labelSelector"), request.query.get("fieldSelector"), r.kind)
    as_table = "as=Table" in request.headers.get("Accept", "")
    include = request.query.get("includeObject", "Metadata")
    bookmarks = _query_flag(request, "allowWatchBookmarks")
    initial_events = request.query.get("sendInitialEvents")
    rv_text = request.query.get("resourceVersion", "")
    timeout_text = request.query.get("timeoutSeconds", "")
    # 0 or absent: the server's own, between --min-request-timeout and twice that (get.go).
    timeout = (
        int(timeout_text)
        if timeout_text.isdigit() and int(timeout_text) > 0
        else rest.min_request_timeout * (1 + random.random())
    )
    namespace = target.namespace if r.namespaced else None
    if rv_text not in ("", "0") and not rv_text.isdigit():
        raise status.bad_request(f'invalid resource version "{rv_text}"')

    def selected(event: WatchEvent) -> bool:
        return rest.selects(selector, event.object)

    flt = Filter(selected, not selector.empty)
    # From here to the first await runs in one step of the loop: no change can slip between
    # reading the state (or the history) and subscribing.
    sub = rest.broadcaster.subscribe(r.kind, namespace)
    current = sorted(rest.matching(store.objects(r.kind, namespace), selector), key=_key)
    replay: list[K8sObject] = []
    expired: str | None = None
    if initial_events == "true" or (rv_text in ("", "0") and initial_events != "false"):
        replay = current
        for o in current:
            flt.seed(_key(o))
    elif rv_text not in ("", "0"):
        for o in current:
            flt.seed(_key(o))
        since = int(rv_text)
        history = store.history_since(since)
        if history is None:
            oldest = store.history_since(0) or []
            first = oldest[0].resource_version if oldest else store.resource_version
            expired = f"too old resource version: {since} ({first})"
        else:
            for event in history:
                o = event.object
                if o.kind == r.kind and (namespace is None or o.metadata.namespace == namespace):
                    sub.queue.put_nowait(event)
    start_rv = store.resource_version

    resp = web.StreamResponse(
        headers={"Content-Type": "application/json", "Cache-Control": "no-cache, private"}
    )
    resp.enable_chunked_encoding()
    first_table = True

    def frame(type_: str, obj: K8sObject) -> bytes:
        nonlocal first_table
        if as_table:
            with_columns, first_table = first_table, False
            return (
                b'{"type":"'
                + type_.encode()
                + b'","object":'
                + encoder.table(obj, include, with_columns)
                + b"}\n"
            )
        # The object's bytes are shared by every client (encode.Encoder).
        return b'{"type":"' + type_.encode() + b'","object":' + encoder.bytes(obj) + b"}\n"

    def bookmark(rv: int, end: bool = False) -> bytes:
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if end:
            meta["annotations"] = {INITIAL_EVENTS_END: "true"}
        obj = {"kind": r.kind, "apiVersion": r.group_version, "metadata": meta}
        return dumps({"type": "BOOKMARK", "object": obj}) + b"\n"

    deadline = time.monotonic() + timeout
    try:
        await resp.prepare(request)
        if expired is not None:
            await resp.write(dumps({"type": "ERROR", "object": status.gone(expired).status()}) + b"\n")
            return resp
        if replay:
            await resp.write(b"".join(frame("ADDED", o) for o in replay))
        if initial_events == "true":
            await resp.write(bookmark(start_rv, end=True))
        last_rv = start_rv
        while not rest.stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            wait = min(BOOKMARK_INTERVAL_S, left) if bookmarks else left
            try:
                item = await asyncio.wait_for(sub.queue.get(), wait)
            except TimeoutError:
                if bookmarks:
                    await resp.write(bookmark(max(last_rv, store.resource_version)))
                continue
            out = []
            ended = False
            # Whatever else is queued goes in the same write.
            while True:
                if item is None:
                    ended = True
                    break
                type_ = flt.translate(item)
                if type_ is not None:
                    out.append(frame(type_, item.object))
                last_rv = item.resource_version
                if sub.queue.empty():
                    break
                item = sub.queue.get_nowait()
            if out:
                await resp.write(b"".join(out))
            if ended:
                break
    except ConnectionResetError:
        pass  # the client went away
    finally:
        rest.broadcaster.unsubscribe(sub)
    return resp
