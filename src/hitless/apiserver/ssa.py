"""Server-side apply (``application/apply-patch+yaml``) with managed fields and conflicts.

After sigs.k8s.io/structured-merge-diff as the API server uses it
(staging/src/k8s.io/apiserver/pkg/endpoints/handlers/fieldmanager): each field manager that
applied owns the set of fields its configuration names, recorded in ``metadata.managedFields``
as FieldsV1 (``f:<field>``, ``k:<list-map key>``, ``v:<set value>``, by the schema's
``x-kubernetes-list-type`` and ``x-kubernetes-list-map-keys``). An apply merges the
configuration into the live object, removes the fields the manager applied before and no longer
names (unless another manager owns them too), and refuses (409 Conflict, one
``FieldManagerConflict`` cause per field) to change a value another applier owns, unless
``force=true``, which takes the field over.

Deviation: only appliers are recorded; other writes (``Update`` operations of controllers, of
``kubectl edit`` or of client-side apply) own nothing here, so they never conflict with an apply.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hitless.api.types.base import format_time
from hitless.apiserver import patch, status
from hitless.apiserver.kinds import Resource
from hitless.clock import Clock

Json = dict[str, Any]
Trie = dict[str, Any]
_SKIP_META = {
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
}


def _key(item: Json, keys: list[str]) -> str:
    return "k:" + json.dumps(
        {k: item.get(k) for k in keys if k in item}, separators=(",", ":"), sort_keys=True
    )


def fields(value: Any, schema: Json | None, top: bool = True) -> Trie:
    """The FieldsV1 set a configuration names."""
    out: Trie = {}
    if not isinstance(value, dict):
        return out
    for k, v in value.items():
        if top and k in ("apiVersion", "kind", "status"):
            continue
        if top and k == "metadata" and isinstance(v, dict):
            v = {mk: mv for mk, mv in v.items() if mk not in _SKIP_META}
            if not v:
                continue
        sub = patch._prop(schema, k)
        resolved = patch._resolve(sub) or {}
        if isinstance(v, dict) and resolved.get("x-kubernetes-map-type") != "atomic":
            out[f"f:{k}"] = fields(v, sub, top=False)
        elif isinstance(v, list) and (sub or {}).get("x-kubernetes-list-type") == "map":
            keys = list((sub or {}).get("x-kubernetes-list-map-keys") or [])
            items = patch._items(sub)
            out[f"f:{k}"] = {
                _key(item, keys): {".": {}, **fields(item, items, top=False)}
                for item in v
                if isinstance(item, dict)
            }
        elif isinstance(v, list) and (sub or {}).get("x-kubernetes-list-type") == "set":
            out[f"f:{k}"] = {"v:" + json.dumps(item, separators=(",", ":")): {} for item in v}
        else:
            out[f"f:{k}"] = {}
    return out


def _leaves(trie: Trie, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for k, v in trie.items():
        if k == ".":
            continue
        if v:
            out += _leaves(v, (*prefix, k))
        else:
            out.append((*prefix, k))
    return out


def _has(trie: Trie, path: tuple[str, ...]) -> bool:
    node = trie
    for part in path:
        if part not in node:
            return False
        node = node[part]
    return True


def _drop(trie: Trie, path: tuple[str, ...]) -> None:
    node = trie
    for part in path[:-1]:
        node = node.get(part, {})
    node.pop(path[-1], None)


def _value(obj: Any, path: tuple[str, ...]) -> tuple[bool, Any]:
    node = obj
    for part in path:
        if part.startswith("f:") and isinstance(node, dict):
            if part[2:] not in node:
                return False, None
            node = node[part[2:]]
        elif part.startswith("k:") and isinstance(node, list):
            want = json.loads(part[2:])
            match = [i for i in node if isinstance(i, dict) and all(i.get(k) == v for k, v in want.items())]
            if not match:
                return False, None
            node = match[0]
        elif part.startswith("v:") and isinstance(node, list):
            value = json.loads(part[2:])
            return (value in node), value
        else:
            return False, None
    return True, node


def _remove(obj: Any, path: tuple[str, ...]) -> None:
    node = obj
    for part in path[:-1]:
        found, node = _value(node, (part,))
        if not found:
            return
    last = path[-1]
    if last.startswith("f:") and isinstance(node, dict):
        node.pop(last[2:], None)
    elif last.startswith("k:") and isinstance(node, list):
        want = json.loads(last[2:])
        node[:] = [
            i for i in node if not (isinstance(i, dict) and all(i.get(k) == v for k, v in want.items()))
        ]
    elif last.startswith("v:") and isinstance(node, list):
        value = json.loads(last[2:])
        node[:] = [i for i in node if i != value]


def path_text(path: tuple[str, ...]) -> str:
    out = ""
    for part in path:
        if part.startswith("f:"):
            out += "." + part[2:]
        elif part.startswith("k:"):
            keys = json.loads(part[2:])
            out += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in keys.items()) + "]"
        elif part.startswith("v:"):
            out += f"[{part[2:]}]"
    return out


class ServerSideApply:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def _entry(self, manager: str, api_version: str, trie: Trie) -> Json:
        return {
            "manager": manager,
            "operation": "Apply",
            "apiVersion": api_version,
            "time": format_time(self._clock.wall()),
            "fieldsType": "FieldsV1",
            "fieldsV1": trie,
        }

    def create(self, applied: Json, manager: str, resource: Resource) -> Json:
        """The object an apply of a new one creates."""
        schema = patch.definition_for(resource.kind, resource.group, resource.version)
        out = copy.deepcopy(applied)
        out["metadata"]["managedFields"] = [
            self._entry(manager, resource.group_version, fields(applied, schema))
        ]
        return out

    def apply(self, live: Json, applied: Json, manager: str, force: bool, resource: Resource) -> Json:
        schema = patch.definition_for(resource.kind, resource.group, resource.version)
        live = copy.deepcopy(live)
        managed: list[Json] = list((live.get("metadata") or {}).get("managedFields") or [])
        mine = next(
            (m for m in managed if m.get("manager") == manager and m.get("operation") == "Apply"), None
        )
        before: Trie = (mine or {}).get("fieldsV1") or {}
        after = fields(applied, schema)
        others = [m for m in managed if m is not mine and m.get("operation") == "Apply"]
        conflicts: list[tuple[Json, tuple[str, ...]]] = []
        for leaf in _leaves(after):
            _, want = _value(applied, leaf)
            found, have = _value(live, leaf)
            if found and have == want:
                continue
            for other in others:
                if _has(other.get("fieldsV1") or {}, leaf):
                    conflicts.append((other, leaf))
        if conflicts and not force:
            causes = [
                {
                    "reason": "FieldManagerConflict",
                    "message": f'conflict with "{m["manager"]}" using '
                    f"{m.get('apiVersion', resource.group_version)}",
                    "field": path_text(p),
                }
                for m, p in conflicts
            ]
            lines = "\n".join(f"- {c['message']}: {c['field']}" for c in causes)
            message = (
                f"Apply failed with 1 conflict: {lines.lstrip('- ')}"
                if len(causes) == 1
                else f"Apply failed with {len(causes)} conflicts:\n{lines}"
            )
            raise status.ApiError(
                409,
                "Conflict",
                message,
                {
                    "name": applied["metadata"].get("name"),
                    "group": resource.group,
                    "kind": resource.plural,
                    "causes": causes,
                },
            )
        for other, leaf in conflicts:
            _drop(other.get("fieldsV1") or {}, leaf)
        # What this manager applied before and names no more, and nobody else owns, goes.
        for leaf in _leaves(before):
            if _has(after, leaf) or any(_has(o.get("fieldsV1") or {}, leaf) for o in others):
                continue
            _remove(live, leaf)
        status_part = live.pop("status", None)
        merged = patch.strategic_merge(live, {k: v for k, v in applied.items() if k != "status"}, schema)
        if status_part is not None:
            merged["status"] = status_part
        entry = self._entry(manager, resource.group_version, after)
        merged["metadata"]["managedFields"] = [m for m in managed if m is not mine] + [entry]
        return dict(merged)
