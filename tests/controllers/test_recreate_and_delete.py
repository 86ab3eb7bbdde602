"""Recreate ordering, graceful deletion of pods, cascading deletion, generations."""

from __future__ import annotations

import pytest

from hitless.api.types.apps import ReplicaSet
from hitless.controllers.controller_utils import controller_ref
from hitless.store.apply import rollout_restart

from .conftest import Cluster, deployment, set_version


@pytest.fixture
def stop_delay() -> float:
    return 3.0  # each old pod takes 3 s to exit after SIGTERM


async def test_recreate_old_pods_gone_before_first_new_pod(cluster: Cluster) -> None:
    c = cluster
    c.apply(deployment(strategy={"type": "Recreate"}))
    await c.until(c.complete)
    (old,) = c.replica_sets()
    c.scaling.clear()
    start = c.clock.now()
    c.update(mutate=set_version("v2"))
    await c.until(lambda: len(c.replica_sets()) == 2 and c.complete(), timeout=60)
    old, new = c.replica_sets()
    assert [m for _, m in c.scaling] == [
        f"Scaled down replica set {old.name} to 0 from 3",
        f"Scaled up replica set {new.name} to 3",
    ]
    old_gone = [
        t
        for t, kind, p in c.pod_history
        if t >= start and (ref := controller_ref(p)) and ref.uid == old.metadata.uid and kind == "DELETED"
    ]
    first_new = min(
        t for t, kind, p in c.pod_history if (ref := controller_ref(p)) and ref.uid == new.metadata.uid
    )
    assert len(old_gone) == 3
    # Every old pod has finished its termination (3 s) and is gone before the first new one exists.
    assert max(old_gone) <= first_new
    assert max(old_gone) - start >= 3
    # The outage, as on a cluster: no pod serving between the old ones stopping and new ones Ready.
    assert min(s.available for s in c.window(start)) == 0


async def test_scale_down_deletes_gracefully(cluster: Cluster) -> None:
    c = cluster
    c.apply(deployment())
    await c.until(c.complete)
    c.update(mutate=lambda d: setattr(d.spec, "replicas", 1))
    await c.until(lambda: len(c.pods()) == 1)
    deleted = [p for p in c.store.pods() if p.metadata.deletion_timestamp is not None]
    assert len(deleted) == 2
    for p in deleted:
        assert p.metadata.deletion_grace_period_seconds == 5
        assert p.status.phase == "Running"  # still terminating: the kubelet runs its shutdown
    (rs,) = c.replica_sets()
    assert rs.status.replicas == 1  # terminating pods are not replicas
    messages = c.events("SuccessfulDelete")
    assert sorted(messages) == sorted(f"Deleted pod: {p.name}" for p in deleted)
    await c.until(lambda: len(c.store.pods()) == 1, timeout=20)


async def test_pods_are_owned_and_named_after_their_replica_set(cluster: Cluster) -> None:
    c = cluster
    c.apply(deployment())
    await c.until(c.complete)
    (rs,) = c.replica_sets()
    owner = controller_ref(rs)
    assert owner is not None and owner.to_json() == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "web",
        "uid": c.deployment().metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }
    for pod in c.pods():
        meta = pod.to_json()["metadata"]
        assert meta["generateName"] == f"{rs.name}-"
        suffix = pod.name.removeprefix(f"{rs.name}-")
        assert len(suffix) == 5 and set(suffix) <= set("bcdfghjklmnpqrstvwxz2456789")
        assert meta["labels"] == {"app": "web", "pod-template-hash": rs.metadata.labels["pod-template-hash"]}
        assert meta["ownerReferences"][0]["kind"] == "ReplicaSet"
        assert meta["ownerReferences"][0]["uid"] == rs.metadata.uid
    assert sorted(c.events("SuccessfulCreate")) == sorted(f"Created pod: {p.name}" for p in c.pods())


async def test_delete_deployment_cascades_gracefully(cluster: Cluster) -> None:
    c = cluster
    c.apply(deployment())
    await c.until(c.complete)
    pods = {p.name for p in c.pods()}
    c.store.delete("Deployment", "default", "web")
    await c.clock.advance(0.1)
    assert c.replica_sets() == []
    terminating = {p.name for p in c.store.pods() if p.metadata.deletion_timestamp is not None}
    assert terminating == pods
    await c.until(lambda: not c.store.pods(), timeout=20)


async def test_generation_and_observed_generation(cluster: Cluster) -> None:
    c = cluster
    c.apply(deployment())
    await c.until(c.complete)
    d = c.deployment()
    assert (d.metadata.generation, d.status.observed_generation) == (1, 1)
    c.update(mutate=lambda d: d.metadata.__setattr__("labels", {"team": "a"}))  # metadata only
    await c.clock.advance(0.5)
    assert c.deployment().metadata.generation == 1
    c.update(mutate=lambda d: setattr(d.spec, "replicas", 4))
    await c.until(c.complete)
    d = c.deployment()
    assert (d.metadata.generation, d.status.observed_generation) == (2, 2)
    (rs,) = c.replica_sets()
    assert (rs.metadata.generation, rs.status.observed_generation) == (2, 2)


async def test_rollout_restart(cluster: Cluster) -> None:
    c = cluster
    c.apply(deployment())
    await c.until(c.complete)
    before = {p.name for p in c.pods()}
    rollout_restart(c.store, c.clock, "default", "web")
    d = c.deployment()
    assert (d.spec.template.metadata.annotations or {})[
        "kubectl.kubernetes.io/restartedAt"
    ] == "2026-01-01T00:00:" + (f"{int(c.clock.now()):02d}Z")
    await c.until(lambda: len(c.replica_sets()) == 2 and c.complete(), timeout=60)
    assert not before & {p.name for p in c.pods()}
    assert (c.deployment().metadata.annotations or {})["deployment.kubernetes.io/revision"] == "2"
    old, new = c.replica_sets()
    assert isinstance(new, ReplicaSet) and old.spec.replicas == 0


async def test_rollout_restart_refuses_a_paused_deployment(cluster: Cluster) -> None:
    c = cluster
    c.apply(deployment(paused=True))
    with pytest.raises(ValueError, match=r"can't restart paused deployment \(run rollout resume first\)"):
        rollout_restart(c.store, c.clock, "default", "web")
