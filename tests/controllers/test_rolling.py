"""RollingUpdate traced on a fake clock: the controller's scale steps, and what they guarantee."""

from __future__ import annotations

import pytest

from hitless.api.types.apps import ReplicaSet
from hitless.controllers import deployment_util as du

from .conftest import NEVER_READY, READY_AFTER, Cluster, deployment, set_version


def names(c: Cluster) -> tuple[str, str]:
    old, new = c.replica_sets()
    return old.name, new.name


async def test_surge_one_unavailable_zero_trace(cluster: Cluster) -> None:
    c = cluster
    c.apply(
        deployment(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}})
    )
    await c.until(c.complete)
    (first,) = c.replica_sets()
    assert c.scaling == [(c.scaling[0][0], f"Scaled up replica set {first.name} to 3")]
    assert first.name.startswith("web-") and first.metadata.labels == {
        "app": "web",
        "pod-template-hash": first.name.removeprefix("web-"),
    }
    assert (first.metadata.annotations or {}).get("deployment.kubernetes.io/revision") == "1"

    start = c.clock.now()
    c.scaling.clear()
    c.update(mutate=set_version("v2"))
    await c.until(c.complete)
    old, new = names(c)
    assert [m for _, m in c.scaling] == [
        f"Scaled up replica set {new} to 1",
        f"Scaled down replica set {old} to 2 from 3",
        f"Scaled up replica set {new} to 2 from 1",
        f"Scaled down replica set {old} to 1 from 2",
        f"Scaled up replica set {new} to 3 from 2",
        f"Scaled down replica set {old} to 0 from 1",
    ]
    during = c.window(start)
    assert min(s.available for s in during) >= 3, "availability dropped below replicas - maxUnavailable"
    assert max(s.running for s in during) <= 4, "more than replicas + maxSurge pods not terminating"
    assert max(s.total for s in during) > 4, "terminating old pods exist beside the surge, as on a cluster"

    d = c.deployment()
    assert (d.metadata.annotations or {})["deployment.kubernetes.io/revision"] == "2"
    status = d.status.to_json()
    assert status["observedGeneration"] == d.metadata.generation == 2
    assert {
        k: status.get(k) for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")
    } == {
        "replicas": 3,
        "updatedReplicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 3,
    }
    assert "unavailableReplicas" not in status
    conditions = {cond["type"]: cond for cond in status["conditions"]}
    assert conditions["Available"]["reason"] == "MinimumReplicasAvailable"
    assert conditions["Progressing"]["reason"] == "NewReplicaSetAvailable"
    assert conditions["Progressing"]["message"] == f'ReplicaSet "{new}" has successfully progressed.'
    old_rs, new_rs = c.replica_sets()
    assert old_rs.to_json()["spec"]["replicas"] == 0 and old_rs.to_json()["status"] == {
        "replicas": 0,
        "observedGeneration": old_rs.metadata.generation,
    }
    assert (new_rs.metadata.annotations or {}) == {
        "deployment.kubernetes.io/desired-replicas": "3",
        "deployment.kubernetes.io/max-replicas": "4",
        "deployment.kubernetes.io/revision": "2",
    }


async def test_new_pod_readiness_gates_each_step(cluster: Cluster) -> None:
    """Each old pod goes only after a new one is Ready: with new pods taking 5 s to be Ready the
    rollout takes three such waits."""
    c = cluster
    c.apply(
        deployment(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}})
    )
    await c.until(c.complete)
    c.scaling.clear()
    start = c.clock.now()
    c.update(mutate=set_version("v2", **{READY_AFTER: "5"}))
    await c.until(c.complete)
    downs = [t for t, m in c.scaling if "Scaled down" in m]
    ups = [t for t, m in c.scaling if "Scaled up" in m]
    assert len(downs) == 3 and len(ups) == 3
    for up, down in zip(ups, downs, strict=True):
        assert 5 <= down - up <= 8, (up, down)
    assert c.clock.now() - start >= 15


@pytest.mark.parametrize(
    ("replicas", "surge", "unavailable"),
    [(1, 1, 0), (2, 1, 0), (3, 1, 0), (4, 1, 1), (5, 2, 1), (10, 3, 2)],
)
def test_default_fenceposts(replicas: int, surge: int, unavailable: int) -> None:
    assert du.resolve_fenceposts("25%", "25%", replicas) == (surge, unavailable)


def test_fenceposts_both_rounding_to_zero_allow_one_unavailable() -> None:
    assert du.resolve_fenceposts("0%", "10%", 5) == (0, 1)
    assert du.resolve_fenceposts(0, "24%", 4) == (0, 1)
    assert du.resolve_fenceposts("1%", "0%", 2) == (1, 0)


@pytest.mark.parametrize("replicas", [4, 10])
async def test_25_percent_rollout(cluster: Cluster, replicas: int) -> None:
    c = cluster
    c.apply(deployment(replicas=replicas))
    await c.until(c.complete)
    c.scaling.clear()
    start = c.clock.now()
    c.update(mutate=set_version("v2", **{READY_AFTER: "3"}))
    await c.until(c.complete, timeout=300)
    old, new = names(c)
    surge, unavailable = du.resolve_fenceposts("25%", "25%", replicas)
    during = c.window(start)
    assert max(s.running for s in during) == replicas + surge
    assert min(s.available for s in during) == replicas - unavailable
    steps = [m for _, m in c.scaling]
    if replicas == 4:
        # surge 1, unavailable 1: one new pod, one old down at once (availability 4 > 3), one more new.
        assert steps[:3] == [
            f"Scaled up replica set {new} to 1",
            f"Scaled down replica set {old} to 3 from 4",
            f"Scaled up replica set {new} to 2 from 1",
        ]
    else:
        # surge 3, unavailable 2: three new pods, two old down, two more new.
        assert steps[:3] == [
            f"Scaled up replica set {new} to 3",
            f"Scaled down replica set {old} to 8 from 10",
            f"Scaled up replica set {new} to 5 from 3",
        ]
    assert steps[-1].startswith(f"Scaled down replica set {old} to 0 from ")
    (_, new_rs) = c.replica_sets()
    assert (new_rs.metadata.annotations or {})["deployment.kubernetes.io/max-replicas"] == str(
        replicas + surge
    )


async def test_min_ready_seconds_delays_availability_and_scale_down(cluster: Cluster) -> None:
    c = cluster
    c.apply(
        deployment(
            minReadySeconds=10,
            strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        )
    )
    await c.until(c.complete)
    c.scaling.clear()
    c.update(mutate=set_version("v2"))
    _, new = await _wait_two(c)
    await c.until(lambda: any("Scaled down" in m for _, m in c.scaling))
    down_at = next(t for t, m in c.scaling if "Scaled down" in m)
    first_new = min(c.pods(new), key=lambda p: p.metadata.creation_timestamp or 0)
    ready_at = min(
        t for t, _, p in c.pod_history if p.metadata.uid == first_new.metadata.uid and p.is_ready()
    )
    # Available once Ready for minReadySeconds (whole seconds), seen at the ReplicaSet's resync.
    assert 9 <= down_at - ready_at <= 12, (ready_at, down_at)
    rs = c.store.get_typed(ReplicaSet, "ReplicaSet", "default", new.name)
    assert rs is not None and rs.spec.min_ready_seconds == 10


async def _wait_two(c: Cluster) -> tuple[ReplicaSet, ReplicaSet]:
    await c.until(lambda: len(c.replica_sets()) == 2 and len(c.pods(c.replica_sets()[1])) == 1)
    old, new = c.replica_sets()
    return old, new


async def test_progress_deadline_exceeded_old_pods_keep_serving(cluster: Cluster) -> None:
    c = cluster
    c.apply(
        deployment(
            progressDeadlineSeconds=30,
            strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        )
    )
    await c.until(c.complete)
    start = c.clock.now()
    c.update(mutate=set_version("v2", **{NEVER_READY: "true"}))

    def timed_out() -> bool:
        cond = c.deployment().status.condition("Progressing")
        return cond is not None and cond.reason == "ProgressDeadlineExceeded"

    at = await c.until(timed_out, timeout=60)
    assert 30 <= at - start <= 33, at - start
    old, new = c.replica_sets()
    cond = c.deployment().status.condition("Progressing")
    assert cond is not None and cond.status == "False"
    assert cond.message == f'ReplicaSet "{new.name}" has timed out progressing.'
    # The controller only reports: nothing is rolled back, the old pods keep serving.
    old_pods = c.pods(old)
    assert len(old_pods) == 3 and all(p.is_ready() for p in old_pods)
    assert [p.is_ready() for p in c.pods(new)] == [False]
    assert min(s.available for s in c.window(start)) == 3
    await c.run(30)
    assert len(c.pods(old)) == 3 and timed_out()
    status = c.deployment().status
    assert (status.unavailable_replicas, status.updated_replicas, status.replicas) == (1, 1, 4)
    available = status.condition("Available")
    assert available is not None and available.status == "True"


async def test_scaling_a_complete_deployment(cluster: Cluster) -> None:
    c = cluster
    c.apply(deployment())
    await c.until(c.complete)
    c.scaling.clear()
    c.update(mutate=lambda d: setattr(d.spec, "replicas", 5))
    await c.until(c.complete)
    (rs,) = c.replica_sets()
    assert [m for _, m in c.scaling] == [f"Scaled up replica set {rs.name} to 5 from 3"]
    assert (rs.metadata.annotations or {})["deployment.kubernetes.io/desired-replicas"] == "5"
    c.update(mutate=lambda d: setattr(d.spec, "replicas", 2))
    await c.until(c.complete)
    assert c.scaling[-1][1] == f"Scaled down replica set {rs.name} to 2 from 5"


async def test_proportional_scaling_mid_rollout(cluster: Cluster) -> None:
    """A replicas change during a stuck rollout scales both ReplicaSets proportionally (sync.go scale)."""
    c = cluster
    c.apply(deployment(replicas=10))
    await c.until(c.complete)
    c.update(mutate=set_version("v2", **{NEVER_READY: "true"}))
    await c.until(lambda: len(c.replica_sets()) == 2 and c.replica_sets()[1].spec.replicas == 5, timeout=30)
    await c.run(5)
    old, new = c.replica_sets()
    assert (old.spec.replicas, new.spec.replicas) == (8, 5)  # 13 = 10 + surge 3, stuck
    c.scaling.clear()
    c.update(mutate=lambda d: setattr(d.spec, "replicas", 20))
    await c.run(2)
    old, new = c.replica_sets()
    # allowed 20 + 5 = 25, 12 to add: old 8 * 25 / 13 -> 15 (+7), new 5 * 25 / 13 -> 10 (+5)
    assert (old.spec.replicas, new.spec.replicas) == (15, 10)
    assert sorted(m for _, m in c.scaling) == sorted(
        [f"Scaled up replica set {old.name} to 15 from 8", f"Scaled up replica set {new.name} to 10 from 5"]
    )
