"""The REST API over the store: paths, verbs and subresources (aiohttp handlers).

Request handling follows staging/src/k8s.io/apiserver/pkg/endpoints/handlers (get.go, create.go,
update.go, patch.go, delete.go, watch.go): the object's JSON with ``kind`` and ``apiVersion``, a
``Table`` when the client asks for one (``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``),
``Status`` errors, ``dryRun=All`` answered without writing.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from hitless.api.types.meta import K8sObject
from hitless.apiserver import (
    deletes,
    discovery,
    encode,
    escalation,
    kinds,
    nonresource,
    patching,
    protobuf,
    proxy,
    reviews,
    status,
    subresources,
    tables,
    writes,
)
from hitless.apiserver.encode import Encoder, dumps
from hitless.apiserver.kinds import Resource
from hitless.apiserver.rbac import Authorizer
from hitless.apiserver.rest_util import JSON, USER, flag, json_response, status_response, wants_table
from hitless.apiserver.selectors import Selector
from hitless.apiserver.serviceaccount import ADMIN, ServiceAccountTokens, UserInfo
from hitless.apiserver.ssa import ServerSideApply
from hitless.apiserver.status import ApiError
from hitless.apiserver.writes import write_status

__all__ = ["Rest", "Target", "status_response"]
from hitless.apiserver.watch import Broadcaster, serve_watch
from hitless.clock import Clock
from hitless.store.store import AlreadyExists, NotFound, Store

Json = dict[str, Any]
_log = logging.getLogger("hitless.apiserver")
# The Warning headers of the request being handled (each request is its own task).
_WARNINGS: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "apiserver_warnings", default=None
)
# Its user (ApiServer's auth middleware; a Rest served without one acts for the admin).
_USER: contextvars.ContextVar[UserInfo] = contextvars.ContextVar("apiserver_user", default=ADMIN)


class Target:
    """What a path names: a resource, maybe a namespace, an object and a subresource."""

    def __init__(self, resource: Resource, namespace: str | None, name: str | None, sub: str | None) -> None:
        self.resource = resource
        self.namespace = namespace
        self.name = name
        self.sub = sub


class Rest:
    def __init__(self, store: Store, clock: Clock, log_root: Path, server_address: str) -> None:
        self.store = store
        self.clock = clock
        self.log_root = log_root
        self.server_address = server_address
        self.encoder = Encoder(clock)
        self.broadcaster = Broadcaster(store)
        self.ssa = ServerSideApply(clock)
        self.stopping = asyncio.Event()
        # The pod network's dial, for pods/proxy (ApiServer.dial; None: no pod is reachable).
        self.dial: proxy.Dial | None = None
        # What answers SelfSubjectAccessReviews (the server's; a bare Rest makes its own).
        self.authorizer = Authorizer(store)
        # The issuer of serviceaccounts/token (ApiServer's; None: not served).
        self.tokens: ServiceAccountTokens | None = None
        # What a TokenReview asks (ApiServer.authenticate_token; None: nothing authenticates).
        self.authenticate_token: reviews.TokenAuthenticator | None = None
        # kube-apiserver's --min-request-timeout (default 1800 s): a watch without timeoutSeconds
        # is closed by the server after a random time between this and twice this
        # (staging/src/k8s.io/apiserver/pkg/endpoints/handlers/get.go). Tests set it short to
        # close watches mid-run.
        self.min_request_timeout = 1800.0

    # --- routing ----------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        warnings: list[str] = []
        token = _WARNINGS.set(warnings)
        user_token = _USER.set(request.get(USER) or ADMIN)
        try:
            resp = await self._route(request)
        except ApiError as err:
            resp = status_response(err)
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception as exc:
            # A bug here must not look like a dropped connection to the client: the API server's
            # answer to a panic in a handler (apiserver/pkg/server/filters/wrap.go), and the
            # traceback for whoever runs hitless.
            _log.exception("%s %s", request.method, request.path_qs)
            resp = status_response(ApiError(500, "InternalError", f"Internal error occurred: {exc}"))
        finally:
            _WARNINGS.reset(token)
            _USER.reset(user_token)
        if warnings and not resp.prepared:
            # apiserver/pkg/warning: "299 - <quoted text>", which kubectl prints as "Warning: <text>".
            for text in warnings:
                resp.headers.add("Warning", "299 - " + json.dumps(text))
        return resp

    async def _route(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        parts = [p for p in path.split("/") if p]
        method = request.method
        found = nonresource.serve(request, path, parts, self.server_address)
        if isinstance(found, web.Response):
            return found
        group, version, rest = found
        if not rest:
            resources = discovery.resource_list(group, version)
            if resources is None:
                raise status.path_not_found()
            return json_response(resources)
        target = self._target(group, version, rest)
        if target.sub is not None:
            return await self._subresource(request, target)
        if target.name is None:
            if method == "GET":
                if flag(request, "watch"):
                    return await self._watch(request, target)
                return self._list(request, target)
            if method == "POST":
                return await self._create(request, target)
            if method == "DELETE":
                return await self._delete_collection(request, target)
            raise status.method_not_allowed()
        if method == "GET":
            return self._get(request, target)
        if method == "PUT":
            return await self._update(request, target)
        if method == "PATCH":
            return await self._patch(request, target)
        if method == "DELETE":
            return await self._delete(request, target)
        raise status.method_not_allowed()

    def _target(self, group: str, version: str, rest: list[str]) -> Target:
        if rest[0] == "namespaces" and len(rest) >= 3:
            resource = kinds.by_path(group, version, rest[2])
            # pods/NAME/proxy/PATH...: the path after proxy is the pod's (apiserver/proxy.py).
            if resource is not None and resource.namespaced and (len(rest) <= 5 or rest[4] == "proxy"):
                return Target(
                    resource, rest[1], rest[3] if len(rest) > 3 else None, rest[4] if len(rest) > 4 else None
                )
        resource = kinds.by_path(group, version, rest[0])
        if resource is None or len(rest) > 3:
            raise status.path_not_found()
        return Target(resource, None, rest[1] if len(rest) > 1 else None, rest[2] if len(rest) > 2 else None)

    # --- reads ------------------------------------------------------------------------------

    def _lookup(self, target: Target) -> K8sObject:
        r = target.resource
        obj = self.store.get(r.kind, r.store_namespace(target.namespace), target.name or "")
        if obj is None:
            raise status.not_found(r.group, r.plural, target.name or "")
        return obj

    def _selected(self, request: web.Request, target: Target) -> tuple[list[K8sObject], Selector]:
        r = target.resource
        selector = Selector.parse(
            request.query.get("labelSelector"), request.query.get("fieldSelector"), r.kind
        )
        namespace = target.namespace if r.namespaced else None
        objs = self.store.objects(r.kind, namespace)
        objs = self.matching(objs, selector)
        objs.sort(key=lambda o: (o.metadata.namespace or "", o.name))
        return objs, selector

    def _list(self, request: web.Request, target: Target) -> web.Response:
        r = target.resource
        objs, _ = self._selected(request, target)
        rv = str(self.store.resource_version)
        if wants_table(request):
            include = request.query.get("includeObject", "Metadata")
            rows = [tables.row(o, self.encoder.data(o), include, self.clock.wall()) for o in objs]
            return json_response(tables.table(r.kind, rows, rv))
        head = dumps(
            {"kind": f"{r.kind}List", "apiVersion": r.group_version, "metadata": {"resourceVersion": rv}}
        )
        body = head[:-1] + b',"items":[' + b",".join(self.encoder.bytes(o) for o in objs) + b"]}"
        return json_response(body)

    def _get(self, request: web.Request, target: Target) -> web.Response:
        obj = self._lookup(target)
        if wants_table(request):
            include = request.query.get("includeObject", "Metadata")
            row = tables.row(obj, self.encoder.data(obj), include, self.clock.wall())
            return json_response(tables.table(obj.kind, [row], obj.metadata.resource_version or ""))
        return json_response(self.encoder.bytes(obj))

    # --- watch ------------------------------------------------------------------------------

    async def _watch(self, request: web.Request, target: Target) -> web.StreamResponse:
        return await serve_watch(self, request, target)

    def matching(self, objs: list[K8sObject], selector: Selector) -> list[K8sObject]:
        if selector.empty:
            return objs
        return [o for o in objs if self.selects(selector, o)]

    def selects(self, selector: Selector, obj: K8sObject) -> bool:
        return selector.matcher(lambda: self.encoder.data(obj), obj.metadata.labels)

    # --- writes -----------------------------------------------------------------------------

    async def _body(self, request: web.Request, target: Target | None = None) -> Any:
        if request.headers.get("Content-Type", "").startswith(protobuf.MEDIA_TYPE):
            if target is None:
                raise status.unsupported_media_type(
                    request.headers["Content-Type"], (JSON, "application/yaml")
                )
            return protobuf.decode(target.resource, await request.read())
        raw = await request.read()
        if not raw:
            raise status.bad_request("the body of the request was empty")
        try:
            return json.loads(raw)
        except ValueError:
            try:
                return yaml.safe_load(raw)
            except yaml.YAMLError as exc:
                raise status.bad_request(f"couldn't get version/kind; json parse error: {exc}") from exc

    def _prepare(self, target: Target, data: Any) -> Json:
        if not isinstance(data, dict):
            raise status.bad_request("the body of the request must be a JSON object")
        r = target.resource
        data.setdefault("apiVersion", r.group_version)
        data.setdefault("kind", r.kind)
        meta = data.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise status.bad_request("metadata must be an object")
        if r.namespaced:
            ns = meta.get("namespace")
            if ns and target.namespace and ns != target.namespace:
                raise status.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = target.namespace or ns or "default"
        else:
            meta.pop("namespace", None)
        if r.kind == "Namespace":
            # namespace strategy PrepareForCreate: the finalizer and phase every namespace has,
            # and the label the NamespaceDefaultLabelName feature puts on each.
            data.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            data.setdefault("status", {}).setdefault("phase", "Active")
            name = meta.get("name")
            if isinstance(name, str):
                meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = name
        return data

    def namespace_exists(self, r: Resource, data: Json) -> None:
        """The NamespaceLifecycle admission plugin: nothing is created in a namespace that does
        not exist, or that is being deleted."""
        if not r.namespaced:
            return
        name = data["metadata"]["namespace"]
        ns = self.store.get("Namespace", "", name)
        if ns is None:
            raise status.not_found("", "namespaces", name)
        if ns.metadata.deletion_timestamp is not None:
            raise status.ApiError(
                403,
                "Forbidden",
                f'{r.qualified} "{data["metadata"].get("name", "")}" is forbidden: unable to create new '
                f"content in namespace {name} because it is being terminated",
            )

    def _decode(self, request: web.Request, r: Resource, data: Json) -> K8sObject:
        # Unset, fieldValidation is Warn (as upstream since 1.27); kubectl sends Strict.
        obj, warnings = writes.decode_warned(r, data, request.query.get("fieldValidation", "Warn"))
        self._warn(request, warnings)
        return obj

    def _record_update(self, request: web.Request, r: Resource, live: Json | None, new: Json) -> None:
        manager = request.query.get("fieldManager")
        if manager:
            self.ssa.record_update(live, new, manager, r)

    @staticmethod
    def _warn(request: web.Request, warnings: list[str]) -> None:
        collected = _WARNINGS.get()
        if collected is not None:
            collected.extend(warnings)

    async def _create(self, request: web.Request, target: Target) -> web.Response:
        r = target.resource
        if r.kind in reviews.KINDS:
            body = await self._body(request, target)
            return json_response(reviews.create(self, r, body, _USER.get(), target.namespace or ""), 201)
        data = self._prepare(target, await self._body(request, target))
        self.namespace_exists(r, data)
        for key in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "generation"):
            data["metadata"].pop(key, None)
        self._record_update(request, r, None, data)
        obj = self._decode(request, r, data)
        self.guard_escalation(obj)
        if request.query.get("dryRun") == "All":
            return json_response(encode.api_json(obj), 201)
        try:
            stored = self.store.create(obj)
        except AlreadyExists as exc:
            raise status.already_exists(r.group, r.plural, obj.name) from exc
        except ValueError as exc:
            raise status.invalid_message(r.group, r.kind, obj.name, str(exc)) from exc
        return json_response(self.encoder.bytes(stored), 201)

    def guard_escalation(self, obj: K8sObject) -> None:
        """The RBAC kinds' policy-based storage: no grant beyond what the writer holds."""
        escalation.check(self.authorizer, _USER.get(), obj.kind, obj.to_json())

    def _write(
        self, target: Target, live: K8sObject, new: K8sObject, dry_run: bool, subresource: str | None
    ) -> K8sObject:
        r = target.resource
        if subresource != "status":
            self.guard_escalation(new)
        wanted = new.metadata.resource_version
        if wanted and wanted != live.metadata.resource_version:
            raise status.conflict(r.group, r.plural, live.name, status.MODIFIED)
        if subresource != "status":
            writes.check_update(r, live, new)
        if dry_run:
            # What the write would have stored: the live version, and the live status unless the
            # status is what is written.
            new.metadata.resource_version = live.metadata.resource_version
            if subresource != "status" and "status" in type(new).model_fields:
                new.__dict__["status"] = live.__dict__.get("status")
            return new
        try:
            if subresource == "status":
                return write_status(self.store, new)
            stored = self.store.update(new)
            meta = stored.metadata
            if r.kind == "Namespace" and meta.deletion_timestamp and not meta.finalizers:
                # The generic registry's ShouldDeleteDuringUpdate: the update that removes the
                # last finalizer of an object being deleted deletes it.
                self.store.delete(r.kind, "", stored.name)
            return stored
        except NotFound as exc:
            raise status.not_found(r.group, r.plural, live.name) from exc

    async def _update(
        self, request: web.Request, target: Target, subresource: str | None = None
    ) -> web.Response:
        r = target.resource
        data = self._prepare(target, await self._body(request, target))
        if data["metadata"].get("name") != target.name:
            raise status.bad_request(
                f"the name of the object ({data['metadata'].get('name')}) does not match the name on "
                f"the URL ({target.name})"
            )
        live = self._lookup(target)
        if subresource is None:
            self._record_update(request, r, self.encoder.data(live), data)
        new = self._decode(request, r, data)
        stored = self._write(target, live, new, request.query.get("dryRun") == "All", subresource)
        return json_response(
            self.encoder.bytes(stored) if stored.metadata.resource_version else dumps(encode.api_json(stored))
        )

    async def _patch(
        self, request: web.Request, target: Target, subresource: str | None = None
    ) -> web.Response:
        return await patching.patch_object(self, request, target, subresource)

    # --- deletes and subresources: deletes.py, subresources.py ------------------------------

    async def _delete(self, request: web.Request, target: Target) -> web.Response:
        return await deletes.delete(self, request, target)

    async def _delete_collection(self, request: web.Request, target: Target) -> web.Response:
        return await deletes.delete_collection(self, request, target)

    async def _subresource(self, request: web.Request, target: Target) -> web.StreamResponse:
        return await subresources.serve(self, request, target)
