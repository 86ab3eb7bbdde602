"""A Deployment rolled out over real processes: readiness probes gate each step; a saved manifest
is re-applied as ``kubectl apply`` would, and a broken one is refused with the workload untouched."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from hitless.api.types.apps import Deployment, ReplicaSet
from hitless.api.types.event import Event
from hitless.api.types.meta import K8sObject
from hitless.api.types.pod import Pod
from hitless.cli.reapply import watch_and_reapply
from hitless.store.store import WatchEvent

from .conftest import Cluster


def manifest(version: str, replicas: int = 3, readyz: str = "ok-after:1", extra: str = "") -> str:
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: web}}}}
  strategy: {{type: RollingUpdate, rollingUpdate: {{maxSurge: 1, maxUnavailable: 0}}}}
  template:
    metadata:
      labels: {{app: web}}
      annotations: {{version: "{version}"}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: web
        image: hitless
        args: [demo-app, --port=8080, --request-log=none, --readyz={readyz}{extra}]
        readinessProbe: {{httpGet: {{path: /readyz, port: 8080}}, periodSeconds: 1}}
"""


class Recorder:
    """Non-terminating and available pod counts at every pod change, and the scaling Events."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.running: list[int] = []
        self.available: list[int] = []
        self.scaling: list[str] = []
        cluster.engine.store.add_listener(self)

    def __call__(self, event: WatchEvent) -> None:
        if isinstance(event.object, Pod):
            pods = [
                p
                for p in self.cluster.engine.store.pods()
                if p.metadata.deletion_timestamp is None and p.status.phase not in ("Succeeded", "Failed")
            ]
            self.running.append(len(pods))
            self.available.append(sum(1 for p in pods if p.is_ready()))
        elif isinstance(event.object, Event) and event.object.reason == "ScalingReplicaSet":
            self.scaling.append(event.object.message)


def deployment(cluster: Cluster) -> Deployment:
    d = cluster.engine.store.get_typed(Deployment, "Deployment", "default", "web")
    assert d is not None
    return d


def replica_sets(cluster: Cluster) -> list[ReplicaSet]:
    rss = [r for r in cluster.engine.store.objects("ReplicaSet") if isinstance(r, ReplicaSet)]
    return sorted(rss, key=lambda r: (r.metadata.creation_timestamp, r.name))


def complete(cluster: Cluster, revision: str) -> bool:
    d = deployment(cluster)
    cond = d.status.condition("Progressing")
    return (
        (d.metadata.annotations or {}).get("deployment.kubernetes.io/revision") == revision
        and cond is not None
        and cond.reason == "NewReplicaSetAvailable"
        and d.status.available_replicas == d.spec.replicas
        and d.status.replicas == d.spec.replicas
        and (d.status.observed_generation or 0) >= (d.metadata.generation or 0)
    )


async def wait(cluster: Cluster, predicate: object, timeout: float = 60.0) -> None:
    assert callable(predicate)
    deadline = cluster.clock.now() + timeout
    while not predicate():
        if cluster.clock.now() > deadline:
            raise AssertionError(f"not reached in {timeout}s: {deployment(cluster).status}")
        await asyncio.sleep(0.05)


def runnable(obj: K8sObject) -> bool:
    return isinstance(obj, Deployment | Pod)


async def test_rolling_update_on_file_save(cluster: Cluster, tmp_path: Path) -> None:
    path = tmp_path / "web.yaml"
    path.write_text(manifest("v1"))
    from hitless.api import load

    loaded = load([str(path)])
    assert not loaded.errors
    cluster.engine.apply(o.obj for o in loaded.applied())
    out = io.StringIO()
    watcher = asyncio.ensure_future(
        watch_and_reapply([str(path)], cluster.engine, cluster.clock, runnable, out, interval=0.1)
    )
    try:
        await wait(cluster, lambda: complete(cluster, "1"))
        rec = Recorder(cluster)

        # A template change, saved: the Deployment rolls out, one pod at a time.
        path.write_text(manifest("v2"))
        await wait(cluster, lambda: complete(cluster, "2") and len(cluster.engine.store.pods()) == 3)
        assert "hitless: deployment.apps/web configured" in out.getvalue()
        old, new = replica_sets(cluster)
        assert rec.scaling == [
            f"Scaled up replica set {new.name} to 1",
            f"Scaled down replica set {old.name} to 2 from 3",
            f"Scaled up replica set {new.name} to 2 from 1",
            f"Scaled down replica set {old.name} to 1 from 2",
            f"Scaled up replica set {new.name} to 3 from 2",
            f"Scaled down replica set {old.name} to 0 from 1",
        ]
        assert min(rec.available) >= 3, rec.available
        assert max(rec.running) <= 4, rec.running

        # A broken edit: refused with file:line, nothing changes.
        generation = deployment(cluster).metadata.generation
        path.write_text(manifest("v3").replace("replicas: 3", "replicas: -1"))
        await wait(cluster, lambda: "nothing was changed" in out.getvalue(), timeout=10)
        assert f"{path}:6: " in out.getvalue() and "spec.replicas" in out.getvalue()
        await asyncio.sleep(0.5)
        assert deployment(cluster).metadata.generation == generation
        assert len(replica_sets(cluster)) == 2

        # A replicas change scales the current ReplicaSet, no rollout.
        rec.scaling.clear()
        path.write_text(manifest("v2", replicas=2))
        await wait(cluster, lambda: complete(cluster, "2") and len(cluster.engine.store.pods()) == 2)
        assert rec.scaling == [f"Scaled down replica set {new.name} to 2 from 3"]

        # Removing the Deployment from the file deletes it, its ReplicaSets and its pods.
        path.write_text(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: other}\nspec:\n  containers:\n"
            "  - {name: c, image: hitless, args: [demo-app, --request-log=none]}\n"
        )
        await wait(
            cluster,
            lambda: not replica_sets(cluster) and [p.name for p in cluster.engine.pods()] == ["other"],
        )
        assert "hitless: deployment.apps/web pruned" in out.getvalue()
    finally:
        watcher.cancel()
