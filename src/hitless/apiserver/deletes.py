"""DELETE of an object or a collection: DeleteOptions (``gracePeriodSeconds``,
``propagationPolicy``, ``preconditions``, ``dryRun``) from the body or the query, as
staging/src/k8s.io/apiserver/pkg/endpoints/handlers/delete.go reads them; the answer is the
object while it terminates gracefully, else a ``Success`` Status.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from hitless.api.types.meta import K8sObject
from hitless.apiserver import encode, status
from hitless.apiserver.encode import dumps
from hitless.apiserver.rest_util import integer, json_response
from hitless.store.store import NotFound

if TYPE_CHECKING:
    from hitless.apiserver.rest import Rest, Target

Json = dict[str, Any]


async def _delete_options(rest: Rest, request: web.Request) -> Json:
    raw = await request.read()
    options: Json = {}
    if raw:
        try:
            options = json.loads(raw)
        except ValueError as exc:
            raise status.bad_request(f"invalid DeleteOptions: {exc}") from exc
    if "gracePeriodSeconds" not in options and request.query.get("gracePeriodSeconds"):
        options["gracePeriodSeconds"] = integer(request, "gracePeriodSeconds")
    if "propagationPolicy" not in options and request.query.get("propagationPolicy"):
        options["propagationPolicy"] = request.query["propagationPolicy"]
    if request.query.get("dryRun") == "All":
        options["dryRun"] = ["All"]
    return options


def _delete_one(rest: Rest, target: Target, obj: K8sObject, options: Json) -> K8sObject | None:
    """Delete ``obj``: the object while it terminates, None once gone."""
    r = target.resource
    pre = options.get("preconditions") or {}
    if pre.get("uid") and pre["uid"] != obj.metadata.uid:
        raise status.conflict(
            r.group,
            r.plural,
            obj.name,
            f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: {obj.metadata.uid}",
        )
    if pre.get("resourceVersion") and pre["resourceVersion"] != obj.metadata.resource_version:
        raise status.conflict(
            r.group,
            r.plural,
            obj.name,
            f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, "
            f"ResourceVersion in object meta: {obj.metadata.resource_version}",
        )
    if "All" in (options.get("dryRun") or []):
        return obj
    if options.get("propagationPolicy") == "Orphan":
        _orphan(rest, obj)
    if r.kind == "Namespace" and obj.metadata.finalizers:
        return _terminate_namespace(rest, obj)
    grace = options.get("gracePeriodSeconds")
    try:
        gone = rest.store.delete(r.kind, r.store_namespace(target.namespace), obj.name, grace)
    except NotFound as exc:
        raise status.not_found(r.group, r.plural, obj.name) from exc
    still = rest.store.get(r.kind, r.store_namespace(target.namespace), obj.name)
    return still if still is not None and still.metadata.uid == gone.metadata.uid else None


def _terminate_namespace(rest: Rest, namespace: K8sObject) -> K8sObject:
    """A namespace with ``metadata.finalizers`` is not removed: it stays ``Terminating``.

    pkg/registry/core/namespace/storage/storage.go Delete: the first DELETE sets
    ``deletionTimestamp`` and ``status.phase: Terminating``; the namespace controller then deletes
    the content and finalizes ``spec.finalizers``, and the generic registry keeps the object
    until whoever owns each ``metadata.finalizers`` entry removes it (an update that removes the
    last one deletes it: rest.Rest._write). hitless's server does the controller's part at once
    (as it removes a namespace without finalizers at once), so what stays is what nothing here
    removes: the metadata finalizers.
    """
    if namespace.metadata.deletion_timestamp is not None:
        return namespace
    new = namespace.copy_deep()
    new.metadata.deletion_timestamp = rest.clock.wall().replace(microsecond=0)
    new.metadata.deletion_grace_period_seconds = 0
    extra = new.model_extra if new.model_extra is not None else {}
    # Finalized: an empty list, which the API's JSON omits (omitempty).
    extra["spec"] = {k: v for k, v in (extra.get("spec") or {}).items() if k != "finalizers"}
    extra["status"] = {**(extra.get("status") or {}), "phase": "Terminating"}
    return rest.store.keep_deleting(new)


def _orphan(rest: Rest, owner: K8sObject) -> None:
    """propagationPolicy Orphan: the dependents lose their owner reference and stay."""
    for kind in ("ReplicaSet", "Pod", "EndpointSlice"):
        for dep in rest.store.objects(kind, owner.metadata.namespace):
            refs = dep.metadata.owner_references or []
            if any(ref.uid == owner.metadata.uid for ref in refs):
                new = dep.copy_deep()
                new.metadata.owner_references = [ref for ref in refs if ref.uid != owner.metadata.uid] or None
                rest.store.update(new)


def _deleted_status(rest: Rest, target: Target, obj: K8sObject) -> Json:
    r = target.resource
    details: Json = {"name": obj.name, "kind": r.plural, "uid": obj.metadata.uid}
    if r.group:
        details["group"] = r.group
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}


async def delete(rest: Rest, request: web.Request, target: Target) -> web.Response:
    options = await _delete_options(rest, request)
    obj = rest._lookup(target)
    left = _delete_one(rest, target, obj, options)
    if left is not None:
        return json_response(
            rest.encoder.bytes(left) if left.metadata.resource_version else dumps(encode.api_json(left))
        )
    return json_response(_deleted_status(rest, target, obj))


async def delete_collection(rest: Rest, request: web.Request, target: Target) -> web.Response:
    options = await _delete_options(rest, request)
    objs, _ = rest._selected(request, target)
    items = []
    for obj in objs:
        left = _delete_one(rest, target, obj, options)
        items.append(rest.encoder.data(left if left is not None else obj))
    r = target.resource
    rv = str(rest.store.resource_version)
    return json_response(
        {
            "kind": f"{r.kind}List",
            "apiVersion": r.group_version,
            "metadata": {"resourceVersion": rv},
            "items": items,
        }
    )
