"""The paths that name no resource: ``/version``, the health endpoints, discovery (``/api``,
``/apis``, ``/apis/GROUP``) and OpenAPI v3: RBAC's ``nonResourceURLs`` and the group documents.

Apart from the resource verbs (rest.py) because each is answered from the kind table alone,
with no object, namespace or store in sight; rest.py routes what is left to a resource.
"""

from __future__ import annotations

from aiohttp import web

from hitless.apiserver import discovery, kinds, openapi, status
from hitless.apiserver.rest_util import json_response


def serve(
    request: web.Request, path: str, parts: list[str], server_address: str
) -> web.Response | tuple[str, str, list[str]]:
    """The answer to a path that names no resource, or the (group, version, rest of the path) of
    one that does; a path that is neither is 404."""
    if path == "/version":
        return json_response(discovery.version())
    if path in ("/healthz", "/readyz", "/livez"):
        return web.Response(text="ok", content_type="text/plain")
    if path == "/api" or path == "/apis":
        media = discovery.negotiate(request.headers.get("Accept", ""))
        core = path == "/api"
        if media is not None:
            ctype = discovery.AGGREGATED_V2 if media == "v2" else discovery.AGGREGATED_V2BETA1
            return json_response(discovery.aggregated(core, media), content_type=ctype)
        return json_response(discovery.api_versions(server_address) if core else discovery.api_group_list())
    if parts[:2] == ["openapi", "v3"]:
        if len(parts) == 2:
            return json_response(openapi.index())
        gv = parts[2:]
        group, version = (
            ("", gv[1]) if gv[0] == "api" and len(gv) == 2 else (gv[1], gv[2]) if len(gv) == 3 else ("-", "-")
        )
        doc = openapi.document(group, version)
        if doc is None:
            raise status.path_not_found()
        return json_response(doc)
    if parts and parts[0] == "api" and len(parts) >= 2:
        return "", parts[1], parts[2:]
    if parts and parts[0] == "apis" and len(parts) >= 3:
        return parts[1], parts[2], parts[3:]
    if parts and parts[0] == "apis" and len(parts) == 2:
        versions = kinds.group_versions().get(parts[1])
        if not versions:
            raise status.path_not_found()
        gvs = [{"groupVersion": f"{parts[1]}/{v}", "version": v} for v in versions]
        return json_response(
            {
                "kind": "APIGroup",
                "apiVersion": "v1",
                "name": parts[1],
                "versions": gvs,
                "preferredVersion": gvs[0],
            }
        )
    raise status.path_not_found()
