"""PATCH of an object or its status: JSON patch, JSON merge patch, strategic merge patch, and
server-side apply (which creates what does not exist), as
staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go dispatches them; the result is
written as a PUT of it would be (decoded, defaulted, validated, the update checks).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from aiohttp import web

from hitless.apiserver import encode, patch, status, writes
from hitless.apiserver.encode import dumps
from hitless.apiserver.rbac import Attributes
from hitless.apiserver.rest_util import USER, flag, json_response
from hitless.apiserver.serviceaccount import ADMIN
from hitless.store.store import AlreadyExists

if TYPE_CHECKING:
    from hitless.apiserver.rest import Rest, Target

PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)


async def patch_object(
    rest: Rest, request: web.Request, target: Target, subresource: str | None = None
) -> web.Response:
    r = target.resource
    ctype = request.headers.get("Content-Type", "").split(";")[0].strip()
    if ctype not in PATCH_TYPES:
        raise status.unsupported_media_type(ctype, PATCH_TYPES)
    body = await rest._body(request)
    dry_run = request.query.get("dryRun") == "All"
    live = rest.store.get(r.kind, r.store_namespace(target.namespace), target.name or "")
    if ctype == "application/apply-patch+yaml":
        manager = request.query.get("fieldManager")
        if not manager:
            raise status.bad_request("PATCH, application/apply-patch+yaml requires fieldManager to be set")
        body = rest._prepare(target, body)
        if body["metadata"].get("name") not in (None, target.name):
            raise status.bad_request("the name of the object does not match the name on the URL")
        body["metadata"]["name"] = target.name
        if request.query.get("fieldValidation", "Warn") != "Strict":
            rest._warn(request, writes.drop_unknown_fields(r, body))
        if live is None:
            _authorize_create(rest, request, target)
            rest.namespace_exists(r, body)
            obj = rest._decode(request, r, rest.ssa.create(body, manager, r))
            rest.guard_escalation(obj)
            if dry_run:
                return json_response(encode.api_json(obj), 201)
            try:
                stored = rest.store.create(obj)
            except AlreadyExists as exc:
                raise status.already_exists(r.group, r.plural, obj.name) from exc
            return json_response(rest.encoder.bytes(stored), 201)
        merged = rest.ssa.apply(rest.encoder.data(live), body, manager, flag(request, "force"), r)
        new = rest._decode(request, r, merged)
        new.metadata.resource_version = None
        stored = rest._write(target, live, new, dry_run, subresource)
        return json_response(rest.encoder.bytes(stored) if not dry_run else dumps(encode.api_json(stored)))
    if live is None:
        raise status.not_found(r.group, r.plural, target.name or "")
    current = json.loads(rest.encoder.bytes(live))
    if ctype == "application/json-patch+json":
        result = patch.json_patch(current, body)
    elif ctype == "application/merge-patch+json":
        result = patch.merge_patch(current, body)
    else:
        result = patch.strategic_merge(current, body, patch.definition_for(r.kind, r.group, r.version))
    if not isinstance(result, dict):
        raise status.bad_request("the patch produced something that is not an object")
    meta = result.setdefault("metadata", {})
    if meta.get("name") != live.name:
        raise status.bad_request("metadata.name: Invalid value: the name of the object cannot be changed")
    _ensure_namespace(meta, r.store_namespace(target.namespace) if r.namespaced else "")
    if meta.get("resourceVersion") == live.metadata.resource_version:
        meta.pop("resourceVersion", None)
    if subresource is None:
        rest._record_update(request, r, rest.encoder.data(live), result)
    new = rest._decode(request, r, result)
    stored = rest._write(target, live, new, dry_run, subresource)
    return json_response(rest.encoder.bytes(stored) if not dry_run else dumps(encode.api_json(stored)))


def _ensure_namespace(meta: dict[str, object], expected: str) -> None:
    """rest.BeforeUpdate's EnsureObjectNamespaceMatchesRequestNamespace: the patched object stays
    in the request's namespace. Without it a patch setting ``metadata.namespace`` would write the
    object of that name in another namespace, which the request was not authorized for."""
    got = meta.get("namespace") or ""
    if not expected:
        meta.pop("namespace", None)  # cluster-scoped: cleared
    elif not got:
        meta["namespace"] = expected
    elif got != expected:
        raise status.bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )


def _authorize_create(rest: Rest, request: web.Request, target: Target) -> None:
    """handlers/patch.go: an apply that creates is also a create, authorized as one
    (withAuthorization of the create attributes), so ``patch`` alone does not make objects; and a
    subresource's apply creates nothing (its storage does not create on update)."""
    r = target.resource
    if target.sub is not None:
        raise status.not_found(r.group, r.plural, target.name or "")
    user = request.get(USER) or ADMIN
    if user.privileged:
        return
    attrs = Attributes(
        user,
        "create",
        True,
        target.namespace or "",
        r.group,
        r.version,
        r.plural,
        "",
        target.name or "",
        request.path,
    )
    decision = rest.authorizer.authorize(attrs)
    if not decision.allowed:
        # NewForbidden with the authorizer's reason as the error, empty or not.
        message = f'{r.qualified} "{target.name or ""}" is forbidden: {decision.reason}'
        raise status.forbidden(attrs, message)
