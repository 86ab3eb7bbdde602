"""OpenAPI v3: ``/openapi/v3`` and one document per group-version, from the upstream schemas
hitless validates with (kubernetes-validate's definitions for its Kubernetes version).

kubectl needs them: ``apply`` looks for a PATCH operation of the object's kind that takes the
``fieldValidation`` parameter before it lets the server validate (cli-runtime
query_param_verifier_v3.go), computes strategic merge patches from the schemas'
``x-kubernetes-patch-*`` extensions (apimachinery strategicpatch/meta.go, which resolves
``allOf[0]`` and ``#/components/schemas/`` references), and ``explain`` reads the descriptions.

The JSON-Schema definitions are turned back into OpenAPI 3.0 as kube-openapi publishes them:
``$ref`` with siblings wrapped in ``allOf``, ``type: [T, "null"]`` as ``T``, IntOrString and
Quantity as strings with their formats. A document holds the definitions its kinds reach.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from functools import cache
from pathlib import Path
from typing import Any

from hitless import KUBERNETES_VERSION
from hitless.apiserver import kinds
from hitless.apiserver.kinds import Resource

Json = dict[str, Any]
_REF = "#/components/schemas/"
PATCH_MEDIA_TYPES = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)
_INTSTR = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"


@cache
def _definitions() -> dict[str, Json]:
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("kubernetes_validate is not installed", name="kubernetes_validate")
    path = (
        Path(spec.submodule_search_locations[0])
        / "kubernetes-json-schema"
        / f"v{KUBERNETES_VERSION}.0-local"
        / "_definitions.json"
    )
    defs: dict[str, Json] = json.loads(path.read_text())["$defs"]
    return defs


def _convert(node: Any, refs: set[str]) -> Any:
    if isinstance(node, list):
        return [_convert(n, refs) for n in node]
    if not isinstance(node, dict):
        return node
    out: Json = {}
    for key, value in node.items():
        if key == "$ref":
            continue
        if key == "type" and isinstance(value, list):
            types = [t for t in value if t != "null"]
            out["type"] = types[0] if len(types) == 1 else types
        elif key == "enum" and node.get("type") in (["string", "null"], "string") and len(value) == 1:
            continue  # kubernetes-validate pins apiVersion and kind; upstream documents do not
        elif key == "properties":
            out[key] = {k: _convert(v, refs) for k, v in value.items()}
        else:
            out[key] = _convert(value, refs)
    ref = node.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        refs.add(name)
        target = {"$ref": _REF + name}
        if not out:
            return target
        out["allOf"] = [target]
    return out


def _schema(name: str, refs: set[str]) -> Json:
    if name == _INTSTR:
        return {
            "type": "string",
            "format": "int-or-string",
            "x-kubernetes-int-or-string": True,
            "description": "IntOrString is a type that can hold an int32 or a string.",
        }
    if name == _QUANTITY:
        return {
            "type": "string",
            "format": "quantity",
            "description": "Quantity is a fixed-point representation of a number.",
        }
    converted: Json = _convert(_definitions()[name], refs)
    return converted


def _definition_name(r: Resource) -> str | None:
    for name, schema in _definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind") or []:
            if (gvk.get("group"), gvk.get("version"), gvk.get("kind")) == (r.group, r.version, r.kind):
                return name
    return None


def _parameters(names: list[str]) -> list[Json]:
    return [{"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}} for n in names]


def _paths(r: Resource, definition: str | None) -> Json:
    prefix = f"/apis/{r.group}/{r.version}" if r.group else f"/api/{r.version}"
    ns = "/namespaces/{namespace}" if r.namespaced else ""
    gvk = {"group": r.group, "version": r.version, "kind": r.kind}
    body: Json = (
        {"content": {"application/json": {"schema": {"$ref": _REF + definition}}}} if definition else {}
    )
    ok: Json = {"200": {"description": "OK"}}
    if definition:
        ok = {
            "200": {
                "description": "OK",
                "content": {"application/json": {"schema": {"$ref": _REF + definition}}},
            }
        }

    def op(action: str, params: list[str], with_body: bool = False) -> Json:
        out: Json = {
            "operationId": f"{action}{r.kind}",
            "parameters": _parameters(params),
            "responses": ok,
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": gvk,
        }
        if with_body and body:
            out["requestBody"] = body
        return out

    write = ["dryRun", "fieldManager", "fieldValidation"]
    patch_op = op("patch", [*write, "force"])
    # kubectl computes a strategic merge patch from these schemas only where the PATCH operation
    # takes that media type (cli-runtime patcher.go, gvkSupportsPatchOpenAPIV3).
    patch_body = {"schema": {"$ref": _REF + "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}}
    patch_op["requestBody"] = {"content": dict.fromkeys(PATCH_MEDIA_TYPES, patch_body), "required": True}
    item: Json = {
        "get": op("get", []),
        "put": op("put", write, True),
        "patch": patch_op,
        "delete": op("delete", ["dryRun", "gracePeriodSeconds", "propagationPolicy"]),
        "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
    }
    collection: Json = {
        "get": op("list", ["labelSelector", "fieldSelector", "resourceVersion", "watch", "limit"]),
        "post": op("post", write, True),
    }
    if r.namespaced:
        param = {"name": "namespace", "in": "path", "required": True, "schema": {"type": "string"}}
        item["parameters"].append(param)
        collection["parameters"] = [param]
    return {f"{prefix}{ns}/{r.plural}/{{name}}": item, f"{prefix}{ns}/{r.plural}": collection}


@cache
def document(group: str, version: str) -> bytes | None:
    rs = [r for r in kinds.resources() if r.group == group and r.version == version]
    if not rs:
        return None
    paths: Json = {}
    pending: set[str] = {"io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}
    for r in rs:
        definition = _definition_name(r)
        if definition:
            pending.add(definition)
        paths.update(_paths(r, definition))
    schemas: Json = {}
    while pending:
        name = pending.pop()
        if name in schemas or name not in _definitions():
            continue
        found: set[str] = set()
        schemas[name] = _schema(name, found)
        pending |= found - schemas.keys()
    doc = {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": f"v{KUBERNETES_VERSION}.0"},
        "paths": paths,
        "components": {"schemas": dict(sorted(schemas.items()))},
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


@cache
def _hash(group: str, version: str) -> str:
    doc = document(group, version) or b""
    return hashlib.sha512(doc).hexdigest()[:64].upper()


def index() -> Json:
    paths = {}
    for group, versions in kinds.group_versions().items():
        for v in versions:
            p = _gv_path(group, v)
            paths[p] = {"serverRelativeURL": f"/openapi/v3/{p}?hash={_hash(group, v)}"}
    return {"paths": paths}


def clear() -> None:
    """Forget the documents (after the kind table changed)."""
    document.cache_clear()
    _hash.cache_clear()
