"""PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch.

Strategic merge patch follows k8s.io/apimachinery/pkg/util/strategicpatch/patch.go: maps merge
key by key (``null`` deletes); a list merges by its ``x-kubernetes-patch-merge-key`` when its
``x-kubernetes-patch-strategy`` says ``merge`` (containers by name, ports by containerPort, env
by name, volumes by name, volumeMounts by mountPath...), other lists are replaced; and the
directives ``$patch`` (replace, delete, merge), ``$retainKeys``, ``$setElementOrder/<field>`` and
``$deleteFromPrimitiveList/<field>``. The merge keys come from the same upstream schemas the
OpenAPI documents are made of, looked up by path, so ``ports`` is keyed by ``containerPort`` in
a container and by ``port`` in a Service.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hitless.apiserver.openapi import _definitions
from hitless.apiserver.status import ApiError, bad_request

Json = dict[str, Any]
_SET_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


# --- RFC 6902 -----------------------------------------------------------------------------------


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(
            f'the server rejected our request due to an error in our request: invalid JSON pointer "{path}"'
        )
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str]) -> tuple[Any, str]:
    node = doc
    for part in parts[:-1]:
        if isinstance(node, list):
            node = node[int(part)]
        elif isinstance(node, dict):
            node = node[part]
        else:
            raise KeyError(part)
    return node, parts[-1]


def _get(doc: Any, parts: list[str]) -> Any:
    node = doc
    for part in parts:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent, last = _parent(doc, parts)
    if isinstance(parent, list):
        if last == "-":
            parent.append(value)
        else:
            index = int(last)
            if not 0 <= index <= len(parent):
                raise IndexError(last)
            parent.insert(index, value)
    else:
        parent[last] = value
    return doc


def _remove(doc: Any, parts: list[str]) -> Any:
    parent, last = _parent(doc, parts)
    if isinstance(parent, list):
        del parent[int(last)]
    else:
        del parent[last]
    return doc


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902: add, remove, replace, move, copy, test."""
    if not isinstance(operations, list):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(target)
    for op in operations:
        if not isinstance(op, dict):
            raise bad_request("json: cannot unmarshal into Go value of type jsonpatch.Operation")
        kind, path = op.get("op"), op.get("path", "")
        try:
            parts = _pointer(str(path))
            if kind == "add":
                doc = _add(doc, parts, copy.deepcopy(op.get("value")))
            elif kind == "remove":
                doc = _remove(doc, parts)
            elif kind == "replace":
                _get(doc, parts)  # must exist
                doc = (
                    _add(_remove(doc, parts), parts, copy.deepcopy(op.get("value")))
                    if parts
                    else op.get("value")
                )
            elif kind in ("move", "copy"):
                source = _pointer(str(op.get("from", "")))
                value = copy.deepcopy(_get(doc, source))
                if kind == "move":
                    doc = _remove(doc, source)
                doc = _add(doc, parts, value)
            elif kind == "test":
                if _get(doc, parts) != op.get("value"):
                    raise ApiError(
                        422,
                        "Invalid",
                        f"the server rejected our request due to an error in our request: "
                        f"testing value {path} failed",
                    )
            else:
                raise bad_request(f"Unexpected kind: {kind}")
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise ApiError(
                422,
                "Invalid",
                "the server rejected our request due to an error in our request: "
                f'{kind} operation does not apply: doc is missing path: "{path}": missing value',
            ) from exc
    return doc


# --- strategic merge patch --------------------------------------------------------------------


def _resolve(schema: Json | None) -> Json | None:
    seen = 0
    while schema is not None and "$ref" in schema and seen < 50:
        schema = _definitions().get(str(schema["$ref"]).rsplit("/", 1)[-1])
        seen += 1
    return schema


def _prop(schema: Json | None, key: str) -> Json | None:
    schema = _resolve(schema)
    if schema is None:
        return None
    props = schema.get("properties")
    if isinstance(props, dict) and key in props:
        p = props[key]
        return p if isinstance(p, dict) else None
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, dict) else None


def _items(schema: Json | None) -> Json | None:
    schema = _resolve(schema)
    items = schema.get("items") if schema else None
    return items if isinstance(items, dict) else None


def _strip(value: Any) -> Any:
    """A value from the patch, without directives."""
    if isinstance(value, dict):
        return {
            k: _strip(v)
            for k, v in value.items()
            if not (
                k.startswith("$")
                and (k in ("$patch", "$retainKeys") or k.startswith((_SET_ORDER, _DELETE_PRIMITIVE)))
            )
        }
    if isinstance(value, list):
        return [_strip(v) for v in value if not (isinstance(v, dict) and v.get("$patch") == "delete")]
    return value


def strategic_merge(original: Any, patch: Any, schema: Json | None) -> Any:
    """Apply a strategic merge patch to ``original`` (JSON), with ``schema`` the definition of
    its type (a JSON-Schema node of the upstream definitions, or None for plain merging)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return _strip(patch)
    if directive == "delete":
        return None
    out: Json = dict(original) if isinstance(original, dict) else {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys") or key.startswith((_SET_ORDER, _DELETE_PRIMITIVE)):
            continue
        if value is None:
            out.pop(key, None)
            continue
        sub = _prop(schema, key)
        if isinstance(value, dict):
            merged = strategic_merge(out.get(key), value, sub)
            if merged is None:
                out.pop(key, None)
            else:
                out[key] = merged
        elif isinstance(value, list):
            strategy = str((sub or {}).get("x-kubernetes-patch-strategy", ""))
            if "merge" in strategy.split(","):
                merge_key = (sub or {}).get("x-kubernetes-patch-merge-key")
                out[key] = _merge_list(out.get(key) or [], value, _items(sub), merge_key)
            else:
                out[key] = _strip(value)
        else:
            out[key] = value
    for key, values in patch.items():
        if key.startswith(_DELETE_PRIMITIVE) and isinstance(values, list):
            field = key[len(_DELETE_PRIMITIVE) :]
            if isinstance(out.get(field), list):
                out[field] = [v for v in out[field] if v not in values]
    for key, order in patch.items():
        if key.startswith(_SET_ORDER) and isinstance(order, list):
            field = key[len(_SET_ORDER) :]
            sub = _prop(schema, field)
            merge_key = (sub or {}).get("x-kubernetes-patch-merge-key")
            if isinstance(out.get(field), list):
                out[field] = _reorder(out[field], order, merge_key)
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        out = {k: v for k, v in out.items() if k in retain}
    return out


def _key_of(item: Any, merge_key: Any) -> Any:
    if isinstance(merge_key, str) and isinstance(item, dict):
        return json.dumps(item.get(merge_key), sort_keys=True)
    return json.dumps(item, sort_keys=True)


def _merge_list(original: list[Any], patch: list[Any], item_schema: Json | None, merge_key: Any) -> list[Any]:
    out = [copy.deepcopy(v) for v in original]
    for item in patch:
        if isinstance(item, dict) and item.get("$patch") == "replace":
            return [_strip(v) for v in patch if v is not item]
        if isinstance(item, dict) and item.get("$patch") == "delete":
            if merge_key is None:
                continue
            key = _key_of(item, merge_key)
            out = [v for v in out if _key_of(v, merge_key) != key]
            continue
        if not isinstance(item, dict) or merge_key is None:
            if item not in out:
                out.append(copy.deepcopy(item))
            continue
        key = _key_of(item, merge_key)
        for i, existing in enumerate(out):
            if _key_of(existing, merge_key) == key:
                out[i] = strategic_merge(existing, item, item_schema)
                break
        else:
            out.append(_strip(item))
    return out


def _reorder(items: list[Any], order: list[Any], merge_key: Any) -> list[Any]:
    """$setElementOrder: the named elements in that order, each at a place one of them had, so
    that elements the order does not name keep their places (normalizeElementOrder)."""
    rank = {_key_of(o, merge_key): i for i, o in enumerate(order)}
    named = sorted(
        (v for v in items if _key_of(v, merge_key) in rank), key=lambda v: rank[_key_of(v, merge_key)]
    )
    it = iter(named)
    return [next(it) if _key_of(v, merge_key) in rank else v for v in items]


def definition_for(kind: str, group: str, version: str) -> Json | None:
    for schema in _definitions().values():
        for gvk in schema.get("x-kubernetes-group-version-kind") or []:
            if (gvk.get("group"), gvk.get("version"), gvk.get("kind")) == (group, version, kind):
                return schema
    return None
