"""Objects written through the API go the way files go: strict decoding, defaulting and
validation (api/loader.py for the kinds it loads, the upstream schema's strict decoding for the
others), then the store's strategy (store/store.py) and the update checks ``hitless up``'s
re-apply makes (store/apply.py). So an object created by kubectl is the object a file gives, and
an invalid one is refused with the API server's message (422 Invalid, one cause per field).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hitless.api import kinds as api_kinds
from hitless.api import loader, schema
from hitless.api.types.meta import K8sObject
from hitless.apiserver import encode, status
from hitless.apiserver.kinds import Resource
from hitless.store.apply import Applier, ApplyError
from hitless.store.store import Store

Json = dict[str, Any]


_UNKNOWN = "strict decoding error: unknown field "


def drop_unknown_fields(resource: Resource, data: Json) -> list[str]:
    """``fieldValidation`` Warn and Ignore: the fields the schema does not know are dropped (as the
    decoder's non-strict mode does), and returned as the API server words their warnings."""
    decoding = schema.decode(resource.kind, resource.group_version, data)
    dropped = []
    for e in decoding.errors:
        if not e.detail.startswith(_UNKNOWN):
            continue
        *parents, last = e.path.segments
        node: Any = data
        for seg in parents:
            if isinstance(node, dict) and isinstance(seg, str):
                node = node.get(seg)
            elif isinstance(node, list) and isinstance(seg, int) and seg < len(node):
                node = node[seg]
            else:
                node = None
        if isinstance(node, dict) and isinstance(last, str):
            node.pop(last, None)
            dropped.append(f'unknown field "{e.path}"')
    return dropped


def decode(resource: Resource, data: Json, field_validation: str = "Strict") -> K8sObject:
    """A typed, defaulted, valid object of ``resource`` from its JSON, or an ApiError.

    ``field_validation`` other than Strict drops unknown fields first; what :func:`decode_warned`
    tells the client."""
    return decode_warned(resource, data, field_validation)[0]


def decode_warned(resource: Resource, data: Json, field_validation: str) -> tuple[K8sObject, list[str]]:
    warnings = drop_unknown_fields(resource, data) if field_validation in ("Warn", "Ignore") else []
    if field_validation not in ("Strict", "Warn", "Ignore"):
        raise status.bad_request(
            f'fieldValidation must be one of "Ignore", "Warn", or "Strict", got: {field_validation!r}'
        )
    return _decode(resource, data), (warnings if field_validation == "Warn" else [])


def _decode(resource: Resource, data: Json) -> K8sObject:
    api_version, kind = resource.group_version, resource.kind
    got_version, got_kind = data.get("apiVersion"), data.get("kind")
    if got_kind != kind or got_version != api_version:
        raise status.bad_request(
            f"the API version in the data ({got_version}) does not match the expected API version "
            f"({api_version})"
            if got_kind == kind
            else f"Object 'Kind' is missing in '{json.dumps(data)[:200]}'"
            if not got_kind
            else f'{got_kind} in version "{got_version}" cannot be handled as a {kind}: '
            f"the object provided is unrecognized"
        )
    name = str((data.get("metadata") or {}).get("name") or "")
    if (api_version, kind) in loader.SUPPORTED:
        result = loader.load_text(json.dumps(data), file="request", finish=False)
        # The namespace was checked as the NamespaceLifecycle plugin does (rest.namespace_exists);
        # the loader's own check knows only the namespaces of a file's input.
        loader.finish_input(result, [str((data.get("metadata") or {}).get("namespace") or "")])
        if result.errors:
            field_errors = [e.field_error for e in result.errors if e.field_error is not None]
            if field_errors:
                raise status.invalid(resource.group, kind, name, field_errors)
            messages = loader.api_server_messages(result)
            raise status.bad_request(messages[0] if messages else "invalid object")
        if not result.objects:
            raise status.bad_request(f'{kind} in version "{api_version}" cannot be handled as a {kind}')
        return result.objects[0].obj
    decoding = schema.decode(kind, api_version, data)
    if decoding.errors:
        detail = decoding.errors[0].detail
        raise status.bad_request(schema.handled_as(kind, api_version, detail))
    registered = api_kinds.lookup(api_version, kind)
    cls = resource.cls or (registered.model if registered is not None else K8sObject)
    try:
        return cls.model_validate(data)
    except ValueError as exc:
        raise status.bad_request(
            f'{kind} in version "{api_version}" cannot be handled as a {kind}: {exc}'
        ) from exc


def check_update(resource: Resource, live: K8sObject, new: K8sObject) -> None:
    """The update validation the API server makes of fields that may not change."""
    if resource.kind == "Pod":
        # Compared as both would be stored: a pod made by a controller may lack defaults that
        # the written one (decoded and defaulted here) has.
        with contextlib.suppress(status.ApiError):
            live = decode(resource, encode.api_json(live))
    live_json = live.to_json()
    live_json.pop("status", None)
    new_json = new.to_json()
    new_json.pop("status", None)
    try:
        Applier._check_update(live, live_json, new_json)
    except ApplyError as exc:
        message = str(exc)
        raise status.invalid_message(resource.group, resource.kind, live.name, message) from exc


def write_status(store: Store, obj: K8sObject) -> K8sObject:
    """The status subresource's write; a kind kept generically (its status an extra field, not
    one the store's strategy knows) is written whole."""
    if "status" in type(obj).model_fields:
        return store.update_status(obj)
    return store.update(obj)
