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

Writes that name a ``fieldManager`` (kubectl's ``create``, ``edit``, ``label``, ``scale``, client-side
``apply``) are recorded as ``Update`` entries owning what they set or changed, as upstream's
UpdateManager does, so an apply that changes such a field conflicts. Deviation: a write without
``fieldManager`` (upstream names its manager after the User-Agent) and the engine's own
controllers, which write the store directly, own nothing.
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
    """Give up one field; a parent left with nothing in it is no field of its own and goes too."""
    nodes = [trie]
    for part in path[:-1]:
        child = nodes[-1].get(part)
        if not isinstance(child, dict):
            return
        nodes.append(child)
    nodes[-1].pop(path[-1], None)
    for depth in range(len(nodes) - 1, 0, -1):
        if nodes[depth]:
            break
        nodes[depth - 1].pop(path[depth - 1], None)


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


CLIENT_SIDE_APPLY = "kubectl-client-side-apply"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _last_applied_fields(live: Json, schema: Json | None) -> Trie:
    annotation = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    try:
        config = json.loads(annotation) if annotation else None
    except ValueError:
        return {}
    return fields(config, schema) if isinstance(config, dict) else {}


class ServerSideApply:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def _entry(self, manager: str, api_version: str, trie: Trie, operation: str = "Apply") -> Json:
        return {
            "manager": manager,
            "operation": operation,
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
        # Every other manager's fields, applied or written (a manager's own Update entry aside).
        others = [m for m in managed if m is not mine and m.get("manager") != manager]
        conflicts: list[tuple[Json, tuple[str, ...]]] = []
        taken: list[tuple[Json, tuple[str, ...]]] = []
        last_applied = _last_applied_fields(live, schema)
        for leaf in _leaves(after):
            _, want = _value(applied, leaf)
            found, have = _value(live, leaf)
            if found and have == want:
                continue
            for other in others:
                if _has(other.get("fieldsV1") or {}, leaf):
                    # lastappliedmanager.go: moving from client-side to server-side apply, what
                    # the last client-side apply declared is taken over without a conflict.
                    if other.get("manager") == CLIENT_SIDE_APPLY and _has(last_applied, leaf):
                        taken.append((other, leaf))
                    else:
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
        for other, leaf in conflicts + taken:
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

    def record_update(self, live: Json | None, new: Json, manager: str, resource: Resource) -> None:
        """A create, update or patch by ``manager`` (its ``fieldManager``): it takes the fields it
        set or changed, in an ``Update`` entry of ``new``'s managedFields, from whoever had them
        (fieldmanager's UpdateManager: ownership follows the last writer of a value)."""
        schema = patch.definition_for(resource.kind, resource.group, resource.version)
        meta = new.setdefault("metadata", {})
        managed: list[Json] = [dict(m) for m in (meta.get("managedFields") or [])]
        changed = [
            leaf
            for leaf in _leaves(fields(new, schema))
            if live is None or _value(live, leaf) != _value(new, leaf)
        ]
        if not changed:
            meta["managedFields"] = managed or None
            if not managed:
                meta.pop("managedFields")
            return
        for m in managed:
            m["fieldsV1"] = json.loads(json.dumps(m.get("fieldsV1") or {}))
            for leaf in changed:
                _drop(m["fieldsV1"], leaf)
        mine = next(
            (m for m in managed if m.get("manager") == manager and m.get("operation") == "Update"), None
        )
        trie: Trie = mine["fieldsV1"] if mine is not None else {}
        for leaf in changed:
            node = trie
            for part in leaf:
                node = node.setdefault(part, {})
        entry = self._entry(manager, resource.group_version, trie, "Update")
        managed = [m for m in managed if m is not mine and _leaves(m.get("fieldsV1") or {})] + [entry]
        meta["managedFields"] = managed
