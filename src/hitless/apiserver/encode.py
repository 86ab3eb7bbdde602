"""Objects as the API returns them, serialized once per revision.

A stored object never changes once written (the store replaces it on every write), so its JSON
is a function of (uid, resourceVersion): a list, a get and every watcher of an event share one
serialization instead of one per client (bench/bench_api.py).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

from hitless.api.types.meta import K8sObject
from hitless.apiserver import kinds, tables
from hitless.clock import Clock

_CACHE_SIZE = 20_000
Bytes = bytes  # the Encoder's method `bytes` hides the type inside the class
_TABLE_CACHE_SIZE = 2_000
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def api_json(obj: K8sObject) -> dict[str, Any]:
    """The object's JSON, with ``kind`` and ``apiVersion``, without a namespace when cluster-scoped."""
    data = obj.to_json()
    resource = kinds.by_kind(obj.kind)
    if resource is not None:
        data["apiVersion"] = resource.group_version
        if not resource.namespaced:
            data.get("metadata", {}).pop("namespace", None)
    return data


class Encoder:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._json: OrderedDict[tuple[str, str, str], tuple[dict[str, Any], bytes]] = OrderedDict()
        self._tables: OrderedDict[tuple[str, str, str, str, bool, int], Bytes] = OrderedDict()

    def _entry(self, obj: K8sObject) -> tuple[dict[str, Any], bytes]:
        key = (obj.kind, obj.metadata.uid or obj.name, obj.metadata.resource_version or "")
        hit = self._json.get(key)
        if hit is not None:
            self._json.move_to_end(key)
            return hit
        data = api_json(obj)
        entry = (data, _dumps(data).encode())
        self._json[key] = entry
        if len(self._json) > _CACHE_SIZE:
            self._json.popitem(last=False)
        return entry

    def data(self, obj: K8sObject) -> dict[str, Any]:
        """The JSON tree (shared: do not change it)."""
        return self._entry(obj)[0]

    def bytes(self, obj: K8sObject) -> bytes:
        return self._entry(obj)[1]

    def table(self, obj: K8sObject, include: str, with_columns: bool) -> Bytes:
        """A one-row Table of the object (a `kubectl get -w` event), shared by every watcher
        within the same second: its AGE cells are whole seconds."""
        now = self._clock.wall()
        key = (obj.kind, obj.metadata.uid or obj.name, obj.metadata.resource_version or "", include,
               with_columns, int(now.timestamp()))  # fmt: skip
        hit = self._tables.get(key)
        if hit is None:
            row = tables.row(obj, self.data(obj), include, now)
            hit = dumps(tables.table(obj.kind, [row], obj.metadata.resource_version or "", with_columns))
            self._tables[key] = hit
            if len(self._tables) > _TABLE_CACHE_SIZE:
                self._tables.popitem(last=False)
        return hit


def dumps(data: Any) -> bytes:
    return _dumps(data).encode()
