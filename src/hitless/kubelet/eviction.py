"""The eviction manager's local-storage check: an emptyDir over its ``sizeLimit`` evicts the pod.

Source: pkg/kubelet/eviction/eviction_manager.go (synchronize every evictionMonitoringPeriod,
10 s; localStorageEviction -> emptyDirLimitEviction -> evictPod with a grace period of 0) and
helpers.go (``Usage of EmptyDir volume %q exceeds the limit %q. ``, reason ``Evicted``). Usage is
what the volume's directory holds on disk (allocated blocks, as cAdvisor's du counts), for disk
and memory media alike. Node-pressure eviction (memory.available, nodefs) is not emulated.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from hitless.api.types.pod import Pod
from hitless.api.types.volume import pod_volumes
from hitless.clock import Clock
from hitless.kubelet import quantity
from hitless.kubelet.volumes.manager import VolumeManager
from hitless.store.events import WARNING, EventRecorder
from hitless.tasks import cancel_and_wait, spawn

MONITORING_PERIOD = 10.0
EVICTED = "Evicted"


def disk_usage(path: Path) -> int:
    total = 0
    for root, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                continue
    return total


def empty_dir_over_limit(pod: Pod, mounted: dict[str, Path]) -> str | None:
    """emptyDirLimitEviction: the eviction message for the first emptyDir over its limit."""
    for volume in pod_volumes(pod):
        source = volume.empty_dir
        if source is None or source.size_limit in (None, "", 0, "0") or volume.name not in mounted:
            continue
        assert source.size_limit is not None
        limit = quantity.parse_quantity(source.size_limit)
        if limit > 0 and disk_usage(mounted[volume.name]) > limit:
            return f'Usage of EmptyDir volume "{volume.name}" exceeds the limit "{source.size_limit}". '
    return None


class EvictionManager:
    def __init__(
        self,
        clock: Clock,
        volumes: VolumeManager,
        recorder: EventRecorder,
        active_pods: Callable[[], Iterable[tuple[Pod, Callable[[str], None]]]],
        period: float = MONITORING_PERIOD,
    ) -> None:
        self._clock = clock
        self._volumes = volumes
        self._recorder = recorder
        self._active_pods = active_pods
        self._period = period
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = spawn("eviction-manager", self._run())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _run(self) -> None:
        while True:
            await self._clock.sleep(self._period)
            self.synchronize()

    def synchronize(self) -> None:
        for pod, evict in self._active_pods():
            message = empty_dir_over_limit(pod, self._volumes.mounted(pod))
            if message is not None:
                self._recorder.event(pod, WARNING, EVICTED, message)
                evict(message)
