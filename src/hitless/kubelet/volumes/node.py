"""What the kubelet reads about its node for volumes and the downward API, and its object getters.

Sources: pkg/kubelet/cm/node_container_manager_linux.go (allocatable = capacity - reserved -
hard eviction thresholds; kind's nodes reserve nothing and keep the default thresholds
memory.available<100Mi, nodefs.available<10%), pkg/kubelet/configmap and secret managers (a
missing object is ``configmap "x" not found`` / ``secret "x" not found``).
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import TypeVar

from hitless.api.types.config import ConfigMap, Secret
from hitless.api.types.meta import K8sObject
from hitless.kubelet.env import NodeAllocatable
from hitless.store.store import Store

T = TypeVar("T", bound=K8sObject)

EVICTION_HARD_MEMORY = 100 * 2**20
EVICTION_HARD_NODEFS = Fraction(1, 10)


def node_allocatable(state_dir: Path) -> NodeAllocatable:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    memory = 0
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    memory = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    probe = state_dir if state_dir.exists() else Path("/")
    st = os.statvfs(probe)
    storage = Fraction(st.f_blocks * st.f_frsize)
    return NodeAllocatable(
        cpu=Fraction(cpus),
        memory=Fraction(max(memory - EVICTION_HARD_MEMORY, 0)),
        ephemeral_storage=storage - storage * EVICTION_HARD_NODEFS,
    )


class StoreConfigObjects:
    """The watch-based ConfigMap and Secret managers over the store: reads are of the watch
    cache, which the store itself is."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def config_map(self, namespace: str, name: str) -> ConfigMap | None:
        return _typed(self._store.get("ConfigMap", namespace, name), ConfigMap)

    def secret(self, namespace: str, name: str) -> Secret | None:
        return _typed(self._store.get("Secret", namespace, name), Secret)


def _typed(obj: K8sObject | None, cls: type[T]) -> T | None:
    if obj is None or isinstance(obj, cls):
        return obj
    # Stored by a generic kind registry: read it through the typed model.
    return cls.model_validate(obj.to_json())
