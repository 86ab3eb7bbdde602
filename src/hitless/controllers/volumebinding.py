"""PersistentVolumeClaims bound to local directories, as kind's default StorageClass does it.

kind (and k3s) ship rancher's local-path-provisioner behind a default StorageClass (``standard``
on kind) with ``volumeBindingMode: WaitForFirstConsumer``: a claim stays ``Pending`` (Event
``WaitForFirstConsumer``) until a pod that uses it is scheduled; the scheduler then names the
node (``volume.kubernetes.io/selected-node``), the provisioner creates
``<base>/pvc-<claim uid>_<namespace>_<name>`` on that node (mode 0777, its setup script's
``mkdir -m 0777``) and a hostPath PersistentVolume pinned to the node, and the PV controller
binds them: ``spec.volumeName``, phase ``Bound``, the claim's access modes and requested
capacity. The directory outlives every pod that mounts it, and the claim, as the default
``Delete`` reclaim policy is not emulated (the run's state directory goes with the run).

Access modes are honoured where the provisioner honours them: only ReadWriteOnce and
ReadWriteOncePod are provisioned; any other mode leaves the claim Pending with the provisioner's
``ProvisioningFailed`` Event. The PersistentVolume object itself is not stored: the kubelet
finds the directory from the claim's ``spec.volumeName`` (:func:`claim_directory`), and mounts
it only on the node it was provisioned on (the PV's node affinity).

Sources: kubernetes-sigs/kind's default storage manifest, rancher/local-path-provisioner
provisioner.go (Provision: access modes, folder name), pkg/controller/volume/persistentvolume
(binding, annotations, Events).
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from hitless.api.types.meta import K8sObject
from hitless.api.types.pod import Pod
from hitless.api.types.volume import pod_volumes
from hitless.clock import Clock
from hitless.store.events import NORMAL, WARNING, EventRecorder
from hitless.store.store import NotFound, Store, WatchEvent
from hitless.tasks import cancel_and_wait, spawn

PROVISIONER = "rancher.io/local-path"
DEFAULT_STORAGE_CLASS = "standard"
# Under the run's state directory, as /opt/local-path-provisioner is on a kind node.
LOCAL_PATH_DIR = "local-path-provisioner"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
_SUPPORTED_MODES = {"ReadWriteOnce", "ReadWriteOncePod"}


class NotBound(Exception):
    """The claim cannot be mounted yet; the message is the kubelet's."""


def claim_directory(base: Path, claim: K8sObject) -> Path:
    data = claim.to_json()
    volume = (data.get("spec") or {}).get("volumeName") or ""
    return base / f"{volume}_{claim.namespace}_{claim.name}"


def claim_path(store: Store, base: Path, node: str, namespace: str, name: str) -> Path:
    """Where a bound claim's volume lives, for the kubelet of ``node``; NotBound otherwise."""
    claim = store.get("PersistentVolumeClaim", namespace, name)
    if claim is None:
        raise NotBound(f'failed to fetch PVC from API server: persistentvolumeclaims "{name}" not found')
    data = claim.to_json()
    phase = (data.get("status") or {}).get("phase") or ""
    volume = (data.get("spec") or {}).get("volumeName") or ""
    if phase != "Bound" or not volume:
        raise NotBound(
            f'PVC {namespace}/{name} has non-bound phase ("{phase}") '
            f'or empty pvc.Spec.VolumeName ("{volume}")'
        )
    selected = (claim.metadata.annotations or {}).get(SELECTED_NODE)
    if selected and selected != node:
        raise NotBound(f"volume {volume} is pinned to node {selected}")
    return claim_directory(base, claim)


def volume_node_conflict(store: Store, pod: Pod, node: str) -> bool:
    """The scheduler's VolumeBinding filter (FindPodVolumes' checkBoundClaims): a claim already
    bound has its volume on one node (the local-path PV's node affinity), and a pod using it fits
    no other node. Unbound claims fit anywhere: the binder provisions where the pod lands."""
    for volume in pod_volumes(pod):
        source = volume.persistent_volume_claim
        if source is None:
            continue
        claim = store.get("PersistentVolumeClaim", pod.namespace, source.claim_name)
        if claim is None or not (claim.to_json().get("spec") or {}).get("volumeName"):
            continue
        selected = (claim.metadata.annotations or {}).get(SELECTED_NODE)
        if selected and selected != node:
            return True
    return False


class VolumeBinder:
    """The PV controller and the local-path provisioner in one, over the store."""

    def __init__(self, store: Store, clock: Clock, base: Path) -> None:
        self._store = store
        self._base = base
        self._pv_recorder = EventRecorder(store, clock, "persistentvolume-controller")
        self._provisioner_recorder = EventRecorder(store, clock, PROVISIONER)
        self._task: asyncio.Task[None] | None = None
        self._waiting: set[tuple[str, str]] = set()

    def start(self) -> None:
        self._task = spawn(
            "volume-binder", self._store.list_and_watch(["PersistentVolumeClaim", "Pod"], self._on)
        )

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    def _on(self, event: WatchEvent) -> None:
        if event.type == "DELETED":
            return
        obj = event.object
        if obj.kind == "PersistentVolumeClaim":
            self._sync_claim(obj)
        elif isinstance(obj, Pod) and obj.spec.node_name:
            for volume in pod_volumes(obj):
                if volume.persistent_volume_claim is not None:
                    claim = self._store.get(
                        "PersistentVolumeClaim", obj.namespace, volume.persistent_volume_claim.claim_name
                    )
                    if claim is not None:
                        self._sync_claim(claim, obj.spec.node_name)

    def _sync_claim(self, claim: K8sObject, node: str | None = None) -> None:
        data = claim.to_json()
        spec: dict[str, Any] = data.setdefault("spec", {})
        status: dict[str, Any] = data.setdefault("status", {})
        if status.get("phase") == "Bound" or spec.get("volumeName"):
            return
        if node is None:
            node = self._consumer_node(claim)
        if node is None:
            if status.get("phase") != "Pending":
                status["phase"] = "Pending"
                self._write(claim, data)
            key = (claim.namespace, claim.name)
            if key not in self._waiting:
                self._waiting.add(key)
                self._pv_recorder.event(
                    claim,
                    NORMAL,
                    "WaitForFirstConsumer",
                    "waiting for first consumer to be created before binding",
                )
            return
        modes = spec.get("accessModes") or []
        storage_class = spec.get("storageClassName") or DEFAULT_STORAGE_CLASS
        if any(mode not in _SUPPORTED_MODES for mode in modes):
            self._provisioner_recorder.event(
                claim,
                WARNING,
                "ProvisioningFailed",
                f'failed to provision volume with StorageClass "{storage_class}": '
                "NodePath only supports ReadWriteOnce and ReadWriteOncePod (1.22+) access modes",
            )
            if status.get("phase") != "Pending":
                status["phase"] = "Pending"
                self._write(claim, data)
            return
        volume = f"pvc-{claim.metadata.uid}"
        self._provisioner_recorder.event(
            claim,
            NORMAL,
            "Provisioning",
            f'External provisioner is provisioning volume for claim "{claim.namespace}/{claim.name}"',
        )
        spec["volumeName"] = volume
        spec.setdefault("storageClassName", DEFAULT_STORAGE_CLASS)
        directory = claim_directory(self._base, claim.model_validate(data))
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o777)
        annotations = data.setdefault("metadata", {}).setdefault("annotations", {})
        annotations.update(
            {
                "pv.kubernetes.io/bind-completed": "yes",
                "pv.kubernetes.io/bound-by-controller": "yes",
                "volume.beta.kubernetes.io/storage-provisioner": PROVISIONER,
                "volume.kubernetes.io/storage-provisioner": PROVISIONER,
                SELECTED_NODE: node,
            }
        )
        status["phase"] = "Bound"
        status["accessModes"] = modes
        storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
        if storage is not None:
            status["capacity"] = {"storage": storage}
        self._write(claim, data)
        self._provisioner_recorder.event(
            claim, NORMAL, "ProvisioningSucceeded", f"Successfully provisioned volume {volume}"
        )

    def _consumer_node(self, claim: K8sObject) -> str | None:
        for pod in self._store.pods(lambda p: p.namespace == claim.namespace and bool(p.spec.node_name)):
            for volume in pod_volumes(pod):
                pvc = volume.persistent_volume_claim
                if pvc is not None and pvc.claim_name == claim.name:
                    return pod.spec.node_name
        return None

    def _write(self, claim: K8sObject, data: dict[str, Any]) -> None:
        with contextlib.suppress(NotFound):
            self._store.update(type(claim).model_validate(data))
