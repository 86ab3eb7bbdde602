"""The volume manager: each pod's volumes set up once before its containers, kept up to date after.

Follows pkg/kubelet/volumemanager. The pod's sync asks :meth:`VolumeManager.pod_ready` where
kubelet.go SyncPod calls WaitForAttachAndMount: the first time, the pod gets its directories and a
reconciler task. The reconciler sets up every volume a container mounts (a volume no container
mounts is left alone, as the desired-state populator skips it); a SetUp that fails is recorded as
``FailedMount`` (``MountVolume.SetUp failed for volume "cfg" : configmap "x" not found``) and
retried with the operation executor's back-off (0.5 s doubling to 2 m 2 s), so a ConfigMap that
appears later is found at the next try. Once all are set up the worker is woken and the pod's sync
goes on to the sandbox and containers; until then the containers wait in ``ContainerCreating``,
and every ``mount_timeout`` (podAttachAndMountTimeout, 2 min 3 s) plus the sync back-off (10 s) without
success adds kubelet.go's ``Unable to attach or mount volumes: ...`` Event.

Afterwards, the volumes whose content comes from the API (configMap, secret, projected,
downwardAPI: RequiresRemount) are set up again at every periodic sync of the pod: the kubelet
resyncs a pod every syncFrequency (1 m) with the pod worker's jitter (up to +50 %), and in 1.34 the
watch-based ConfigMap and Secret managers see a change at once, so an edit shows in the mounted
files 60-90 s later; ``sync_period`` makes that shorter. The atomic writer writes only what
changed. Nothing here runs per probe or per container start.
"""

from __future__ import annotations

import asyncio
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hitless.api.types.pod import Pod
from hitless.api.types.volume import Volume, container_volume_mounts, pod_volumes
from hitless.clock import Clock
from hitless.kubelet.volumes.plugins import REMOUNTED, MountError, NotReady, VolumeHost, set_up, source_kind
from hitless.kubelet.volumes.tmpfs import is_mount_point, unmount
from hitless.store.events import WARNING, EventRecorder
from hitless.tasks import cancel_and_wait, spawn

# nestedpendingoperations.go: initialDurationBeforeRetry, maxDurationBeforeRetry.
INITIAL_RETRY = 0.5
MAX_RETRY = 122.0
# The desired-state populator's loop: how soon an unbound claim is looked at again.
POPULATOR_PERIOD = 0.1
# volume_manager.go podAttachAndMountTimeout (2 min + 3 s); the pod worker's back-off after the failed sync.
MOUNT_TIMEOUT = 123.0
SYNC_BACKOFF = 10.0


@dataclass
class VolumeOptions:
    # kubelet syncFrequency: how often a pod's API-sourced volumes are refreshed.
    sync_period: float = 60.0
    # pod_workers.go workerResyncIntervalJitterFactor.
    sync_jitter: float = 0.5
    mount_timeout: float = MOUNT_TIMEOUT


@dataclass
class _PodVolumes:
    pod: Pod
    wake: Callable[[], None]
    mounted: dict[str, Path] = field(default_factory=dict)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    # The volumes some container mounts, parsed once per version of the pod.
    parsed: tuple[Pod, list[Volume]] | None = None

    def volumes(self) -> list[Volume]:
        if self.parsed is None or self.parsed[0] is not self.pod:
            used = mounted_volume_names(self.pod)
            self.parsed = (self.pod, [v for v in pod_volumes(self.pod) if v.name in used])
        return self.parsed[1]


def mounted_volume_names(pod: Pod) -> set[str]:
    """util.GetPodVolumeNames: the volumes some container mounts."""
    names: set[str] = set()
    for container in [*(pod.spec.init_containers or []), *pod.spec.containers]:
        names.update(m.name for m in container_volume_mounts(container))
    return names


class VolumeManager:
    def __init__(
        self,
        host: VolumeHost,
        clock: Clock,
        recorder: EventRecorder,
        options: VolumeOptions | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.host = host
        self._clock = clock
        self._recorder = recorder
        self.options = options or VolumeOptions()
        self._rng = rng or random.Random()
        self._pods: dict[str, _PodVolumes] = {}

    # --- what the pod's sync asks ----------------------------------------------------------------

    def pod_ready(self, pod: Pod, wake: Callable[[], None]) -> bool:
        """WaitForAttachAndMount without blocking the sync: True once every volume is set up;
        otherwise ``wake()`` is called when they are."""
        uid = pod.metadata.uid or ""
        state = self._pods.get(uid)
        if state is None:
            state = _PodVolumes(pod, wake)
            self._pods[uid] = state
            # makePodDataDirs
            (self.host.pods_dir / uid / "volumes").mkdir(parents=True, exist_ok=True)
            if state.volumes():
                state.task = spawn("volume-manager", self._reconcile(state))
            else:
                state.ready.set()  # nothing to mount, now or later (a pod's volumes are immutable)
        state.pod = pod
        return state.ready.is_set()

    def mounted(self, pod: Pod) -> dict[str, Path]:
        """GetMountedVolumesForPod: volume name -> host path."""
        state = self._pods.get(pod.metadata.uid or "")
        return dict(state.mounted) if state is not None else {}

    def pod_dir(self, uid: str) -> Path:
        return self.host.pods_dir / uid

    async def remove_pod(self, uid: str) -> None:
        """The pod is terminated: tear its volumes down and remove its directory (the kubelet's
        unmount, then cleanupOrphanedPodDirs). Claims' directories are not the pod's and stay."""
        state = self._pods.pop(uid, None)
        if state is not None:
            await cancel_and_wait(state.task)
        for key in [k for k in self.host.tokens if k[0] == uid]:
            del self.host.tokens[key]
        volumes = self.host.pods_dir / uid / "volumes"
        if volumes.is_dir():
            for plugin in volumes.iterdir():
                for directory in plugin.iterdir():
                    if is_mount_point(directory):
                        unmount(directory)
        shutil.rmtree(self.host.pods_dir / uid, ignore_errors=True)

    async def stop(self) -> None:
        await cancel_and_wait(*(s.task for s in self._pods.values()))

    # --- the reconciler --------------------------------------------------------------------------

    async def _reconcile(self, state: _PodVolumes) -> None:
        await self._mount_all(state)
        state.ready.set()
        state.wake()
        while True:
            await self._clock.sleep(
                self.options.sync_period * (1 + self._rng.random() * self.options.sync_jitter)
            )
            for volume in state.volumes():
                if source_kind(volume) in REMOUNTED:
                    self._set_up(state, volume)

    async def _mount_all(self, state: _PodVolumes) -> None:
        delays: dict[str, float] = {}
        next_try: dict[str, float] = {}
        start = self._clock.now()
        timeout_at = start + self.options.mount_timeout
        unprocessed: set[str] = set()
        while True:
            now = self._clock.now()
            volumes = state.volumes()
            for volume in volumes:
                if volume.name in state.mounted or next_try.get(volume.name, now) > now:
                    continue
                try:
                    self._set_up(state, volume, raise_not_ready=True)
                except NotReady:
                    unprocessed.add(volume.name)
                    next_try[volume.name] = now + POPULATOR_PERIOD
                    continue
                unprocessed.discard(volume.name)
                if volume.name not in state.mounted:
                    delay = delays.get(volume.name)
                    delays[volume.name] = INITIAL_RETRY if delay is None else min(delay * 2, MAX_RETRY)
                    next_try[volume.name] = now + delays[volume.name]
            pending = sorted(v.name for v in volumes if v.name not in state.mounted)
            if not pending:
                return
            if now >= timeout_at:
                failed = " ".join(sorted(unprocessed & set(pending)))
                self._recorder.event(
                    state.pod,
                    WARNING,
                    "FailedMount",
                    f"Unable to attach or mount volumes: unmounted volumes=[{' '.join(pending)}], "
                    f"unattached volumes=[], failed to process volumes=[{failed}]: "
                    "context deadline exceeded",
                )
                timeout_at = now + SYNC_BACKOFF + self.options.mount_timeout
            wake_at = min([timeout_at, *(next_try.get(n, now) for n in pending)])
            await self._clock.sleep(max(wake_at - now, 0.0))

    def _set_up(self, state: _PodVolumes, volume: Volume, raise_not_ready: bool = False) -> None:
        try:
            state.mounted[volume.name] = set_up(self.host, state.pod, volume)
        except NotReady:
            if raise_not_ready:
                raise
        except (MountError, OSError, ValueError) as exc:
            message = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            # operation_generator.go GenerateError: "<prefix> for volume %q <: err>".
            self._recorder.event(
                state.pod,
                WARNING,
                "FailedMount",
                f'MountVolume.SetUp failed for volume "{volume.name}" : {message}',
            )
