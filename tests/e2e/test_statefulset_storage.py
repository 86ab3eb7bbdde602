"""A StatefulSet's volumeClaimTemplates with real pods: the controller creates ``data-web-0`` and
``data-web-1``, the volume binder binds them when their pods are scheduled, the kubelet mounts
them, each pod writes its ordinal there, and a pod deleted comes back under the same name on the
same claim and finds what it wrote; a new template under ``partition: 1`` rolls web-1 (onto its
claim again) and holds web-0."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hitless.api.types.pod import Pod
from hitless.api.types.statefulset import RollingUpdateStatefulSetStrategy, StatefulSet

from .conftest import Cluster, cluster_of, running

pytestmark = pytest.mark.slow

WEB = """
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: web
  replicas: 2
  podManagementPolicy: Parallel
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: app
        image: busybox
        # A pod on an empty claim writes its ordinal; one on a used claim reports what it found.
        command:
        - sh
        - -c
        - |
          if [ -f /data/ordinal ]; then echo "found $(cat /data/ordinal) as $HOSTNAME"
          else echo ${HOSTNAME##*-} > /data/ordinal; echo "wrote $(cat /data/ordinal) as $HOSTNAME"; fi
          touch /tmp/ready
          exec sleep 3600
        readinessProbe: {exec: {command: [cat, /tmp/ready]}, periodSeconds: 1}
        volumeMounts:
        - {name: data, mountPath: /data}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
"""


def _claim(cluster: Cluster, name: str) -> dict[str, Any]:
    claim = cluster.engine.store.get("PersistentVolumeClaim", "default", name)
    assert claim is not None, f"no claim {name}"
    return claim.to_json()


def _log(cluster: Cluster, pod: Pod) -> list[str]:
    """What this pod's container printed (its log directory is per pod uid)."""
    matches = list(cluster.log_dir.glob(f"default_{pod.name}_{pod.metadata.uid}/app/0.log"))
    if not matches:
        return []
    return [line.split(" ", 3)[3] for line in matches[0].read_text().splitlines()]


async def _until(cluster: Cluster, check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = cluster.clock.now() + timeout
    while not check():
        assert cluster.clock.now() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


def _volume_claim(pod: Pod) -> str:
    for volume in pod.to_json()["spec"]["volumes"]:
        if volume["name"] == "data":
            return str(volume["persistentVolumeClaim"]["claimName"])
    raise AssertionError("no data volume")


async def test_claims_survive_a_pods_replacement_and_a_partitioned_rollout(tmp_path: Path) -> None:
    async with cluster_of(tmp_path, nodes=1) as cluster:
        cluster.apply(WEB)
        first = {name: await cluster.wait_pod(name, running) for name in ("web-0", "web-1")}
        claims = {}
        for ordinal in (0, 1):
            claim = _claim(cluster, f"data-web-{ordinal}")
            claims[ordinal] = claim["metadata"]["uid"]
            assert claim["status"]["phase"] == "Bound"
            assert claim["spec"]["volumeName"] == f"pvc-{claim['metadata']['uid']}"
            # The default retention policy (Retain, Retain) makes no owner: the claim outlives the set.
            assert claim["metadata"].get("ownerReferences") is None
            assert _volume_claim(first[f"web-{ordinal}"]) == f"data-web-{ordinal}"
            pod = first[f"web-{ordinal}"]
            await _until(cluster, lambda: bool(_log(cluster, pod)))  # noqa: B023 (awaited here)
            assert _log(cluster, pod) == [f"wrote {ordinal} as web-{ordinal}"]

        cluster.engine.store.delete("Pod", "default", "web-1")
        replaced = await cluster.wait_pod(
            "web-1", lambda p: running(p) and p.metadata.uid != first["web-1"].metadata.uid
        )
        assert _volume_claim(replaced) == "data-web-1"
        await _until(cluster, lambda: bool(_log(cluster, replaced)))
        # The replacement found the ordinal its predecessor wrote, on the same claim.
        assert _log(cluster, replaced) == ["found 1 as web-1"]
        assert _claim(cluster, "data-web-1")["metadata"]["uid"] == claims[1]
        pv = cluster.log_dir / "local-path-provisioner" / f"pvc-{claims[1]}_default_data-web-1"
        assert (pv / "ordinal").read_text() == "1\n"

        # A new template under partition 1: web-1 rolls onto its claim again, web-0 is held.
        store = cluster.engine.store
        current = store.get_typed(StatefulSet, "StatefulSet", "default", "web")
        assert current is not None
        updated = current.copy_deep()
        updated.spec.template.metadata.annotations = {"version": "v2"}
        updated.spec.update_strategy.rolling_update = RollingUpdateStatefulSetStrategy(partition=1)
        store.update(updated)

        def rolled() -> bool:
            got = store.get_typed(StatefulSet, "StatefulSet", "default", "web")
            assert got is not None
            st = got.status
            return (
                st.observed_generation == got.metadata.generation
                and st.updated_replicas == 1
                and st.ready_replicas == 2
                and st.current_revision != st.update_revision
            )

        await _until(cluster, rolled)
        final = store.get_typed(StatefulSet, "StatefulSet", "default", "web")
        assert final is not None
        web0, web1 = (cluster.pod(f"web-{i}") for i in (0, 1))
        assert web0 is not None and web1 is not None
        assert web0.metadata.uid == first["web-0"].metadata.uid and web0.metadata.deletion_timestamp is None
        assert _hash(web0) == final.status.current_revision
        assert _hash(web1) == final.status.update_revision and web1.metadata.uid != replaced.metadata.uid
        await _until(cluster, lambda: bool(_log(cluster, web1)))
        assert _log(cluster, web1) == ["found 1 as web-1"]


def _hash(pod: Pod) -> str | None:
    return (pod.metadata.labels or {}).get("controller-revision-hash")
