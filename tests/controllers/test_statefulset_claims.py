"""The StatefulSet controller and the volume binder together on the fake clock: a claim the
controller creates waits for its pod (WaitForFirstConsumer), is bound on the node the scheduler
chose, and keeps its volume when its pod is replaced."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hitless.controllers.controller_utils import is_pod_ready
from hitless.controllers.volumebinding import SELECTED_NODE, VolumeBinder, claim_directory

from .workloads import Workloads, statefulset, workloads_cluster

CLAIM = {
    "metadata": {"name": "data"},
    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
}


def _claim(w: Workloads, name: str) -> dict[str, Any]:
    return dict(w.get("PersistentVolumeClaim", name).to_json())


def _ready(w: Workloads, n: int) -> bool:
    pods = w.pods()
    return len(pods) == n and all(is_pod_ready(p) for p in pods)


async def test_claims_of_a_statefulset_wait_for_their_pod_then_bind(tmp_path: Path) -> None:
    base = tmp_path / "local-path"
    async with workloads_cluster(tmp_path, nodes=2) as w:
        binder = VolumeBinder(w.store, w.clock, base)
        binder.start()
        try:
            w.apply(statefulset(replicas=2, volumeClaimTemplates=[CLAIM]))
            await w.until(lambda: _ready(w, 2))
            volumes = {}
            for ordinal in (0, 1):
                name = f"data-web-{ordinal}"
                claim = _claim(w, name)
                node = w.get("Pod", f"web-{ordinal}").spec.node_name
                assert claim["status"] == {
                    "phase": "Bound",
                    "accessModes": ["ReadWriteOnce"],
                    "capacity": {"storage": "1Gi"},
                }
                assert claim["metadata"]["annotations"][SELECTED_NODE] == node
                assert claim_directory(base, w.get("PersistentVolumeClaim", name)).is_dir()
                volumes[name] = claim["spec"]["volumeName"]
            waiting = "waiting for first consumer to be created before binding"
            assert w.events("WaitForFirstConsumer") == [waiting, waiting]
            assert sorted(w.events("ProvisioningSucceeded")) == sorted(
                f"Successfully provisioned volume {v}" for v in volumes.values()
            )

            # A bystander on web-1's node makes the other node the emptier one: only the claim's
            # volume brings the replacement back where its data is.
            pinned = w.get("Pod", "web-1").spec.node_name
            assert pinned == "node-2"
            w.apply(_bystander(pinned))
            w.store.delete("Pod", "default", "web-1")
            await w.until(lambda: _ready(w, 3) and w.get("Pod", "web-1").metadata.deletion_timestamp is None)
            assert w.get("Pod", "web-1").spec.node_name == pinned
            assert _claim(w, "data-web-1")["spec"]["volumeName"] == volumes["data-web-1"]
            assert len(w.events("ProvisioningSucceeded")) == 2
        finally:
            await binder.stop()


def _bystander(node: str) -> dict[str, Any]:
    container = {"name": "app", "image": "busybox", "command": ["app"]}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "bystander", "namespace": "default"},
        "spec": {"nodeName": node, "containers": [container]},
    }


async def test_a_pod_whose_volume_node_is_cordoned_waits_for_it(tmp_path: Path) -> None:
    async with workloads_cluster(tmp_path, nodes=2) as w:
        binder = VolumeBinder(w.store, w.clock, tmp_path / "local-path")
        binder.start()
        try:
            w.apply(statefulset(replicas=1, volumeClaimTemplates=[CLAIM]))
            await w.until(lambda: _ready(w, 1))
            node = w.get("Pod", "web-0").spec.node_name
            w.update("Node", node, lambda n: setattr(n.spec, "unschedulable", True))
            w.store.delete("Pod", "default", "web-0")
            await w.until(lambda: bool(w.events("FailedScheduling")))
            assert w.events("FailedScheduling")[0] == (
                "0/2 nodes are available: 1 node(s) had volume node affinity conflict, "
                "1 node(s) were unschedulable. preemption: 0/2 nodes are available: "
                "2 Preemption is not helpful for scheduling.."
            )
            w.update("Node", node, lambda n: setattr(n.spec, "unschedulable", False))
            await w.until(lambda: _ready(w, 1))
            assert w.get("Pod", "web-0").spec.node_name == node
        finally:
            await binder.stop()


async def test_when_deleted_delete_owns_the_bound_claim_and_it_goes_with_the_set(tmp_path: Path) -> None:
    async with workloads_cluster(tmp_path) as w:
        binder = VolumeBinder(w.store, w.clock, tmp_path / "local-path")
        binder.start()
        try:
            policy = {"whenDeleted": "Delete", "whenScaled": "Retain"}
            w.apply(
                statefulset(
                    replicas=1, volumeClaimTemplates=[CLAIM], persistentVolumeClaimRetentionPolicy=policy
                )
            )
            await w.until(lambda: _ready(w, 1) and _claim(w, "data-web-0")["status"]["phase"] == "Bound")
            owners = _claim(w, "data-web-0")["metadata"]["ownerReferences"]
            uid = w.get("StatefulSet", "web").metadata.uid
            # An owner, not the controller (stateful_set_utils.go): the binder's writes keep it.
            assert [(o["kind"], o["name"], o["uid"], o.get("controller")) for o in owners] == [
                ("StatefulSet", "web", uid, None)
            ]
            w.store.delete("StatefulSet", "default", "web")
            await w.until(lambda: w.store.get("PersistentVolumeClaim", "default", "data-web-0") is None)
        finally:
            await binder.stop()
