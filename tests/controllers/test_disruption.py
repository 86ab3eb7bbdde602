"""PodDisruptionBudgets on a fake clock: the disruption controller's status, the Eviction API's
429 while the budget forbids an eviction, and a drain that waits on it as kubectl drain does."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any, cast

import pytest

from hitless.api import load_text
from hitless.api.types.meta import OwnerReference
from hitless.api.types.policy import PodDisruptionBudget
from hitless.controllers.disruption import DisruptionController
from hitless.engine import Engine
from hitless.store.eviction import EvictionRefused, evict
from hitless.verify.scenarios import DrainBlocked, evict_pods

from .conftest import READY_AFTER, Cluster, deployment


def budget(**spec: Any) -> PodDisruptionBudget:
    manifest = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec},
    }
    result = load_text(json.dumps(manifest))
    obj = result.objects[0].obj
    assert isinstance(obj, PodDisruptionBudget)
    return obj


def status(c: Cluster) -> dict[str, Any]:
    pdb = c.store.get_typed(PodDisruptionBudget, "PodDisruptionBudget", "default", "web")
    assert pdb is not None
    return pdb.to_json().get("status") or {"currentHealthy": None, "disruptionsAllowed": None}


@pytest.fixture
async def disruption(cluster: Cluster) -> AsyncIterator[DisruptionController]:
    controller = DisruptionController(cluster.store, cluster.clock)
    controller.start()
    yield controller
    await controller.stop()


def engine_of(c: Cluster) -> Engine:
    return cast(
        Engine,
        SimpleNamespace(
            store=c.store, clock=c.clock, evict=lambda ns, name: evict(c.store, c.clock, ns, name)
        ),
    )


async def test_status_follows_the_pods_and_an_eviction_uses_up_the_budget(
    cluster: Cluster, disruption: DisruptionController
) -> None:
    cluster.apply(deployment(replicas=3, annotations={READY_AFTER: "2"}))
    cluster.store.create(budget(maxUnavailable=1))
    await cluster.until(lambda: status(cluster)["currentHealthy"] == 3)
    st = status(cluster)
    assert {k: st[k] for k in ("expectedPods", "desiredHealthy", "currentHealthy", "disruptionsAllowed")} == {
        "expectedPods": 3,
        "desiredHealthy": 2,
        "currentHealthy": 3,
        "disruptionsAllowed": 1,
    }
    assert st["observedGeneration"] == 1
    (cond,) = st["conditions"]
    assert (cond["type"], cond["status"], cond["reason"]) == ("DisruptionAllowed", "True", "SufficientPods")

    first, second, _ = sorted(p.name for p in cluster.pods())
    evict(cluster.store, cluster.clock, "default", first)
    assert status(cluster)["disruptionsAllowed"] == 0 and first in status(cluster)["disruptedPods"]
    with pytest.raises(EvictionRefused) as refused:
        evict(cluster.store, cluster.clock, "default", second)
    assert refused.value.code == 429
    assert refused.value.message == "Cannot evict pod as it would violate the pod's disruption budget."
    # The eviction only decremented disruptionsAllowed: the controller has not counted again yet.
    assert refused.value.cause == "The disruption budget web needs 2 healthy pods and has 3 currently"
    await cluster.clock.settle()
    assert status(cluster)["currentHealthy"] == 2

    # The replacement becomes Ready: the budget allows one disruption again.
    await cluster.until(lambda: status(cluster)["disruptionsAllowed"] == 1)
    evict(cluster.store, cluster.clock, "default", second)


async def test_a_drain_waits_for_the_budget_and_retries_every_five_seconds(
    cluster: Cluster, disruption: DisruptionController
) -> None:
    cluster.apply(deployment(replicas=2, annotations={READY_AFTER: "3"}))
    cluster.store.create(budget(minAvailable=1))
    await cluster.until(lambda: status(cluster)["disruptionsAllowed"] == 1)
    notes: list[str] = []
    start = cluster.clock.now()
    drain = asyncio.ensure_future(evict_pods(engine_of(cluster), cluster.pods(), 120.0, notes.append))
    await cluster.until(drain.done)

    assert drain.result() >= 1
    assert notes[0].endswith(
        "(will retry after 5s): Cannot evict pod as it would violate the pod's disruption budget."
    )
    # Held until a replacement was Ready (3 s of probing), then let through on a 5 s retry.
    assert cluster.clock.now() - start >= 5.0


async def test_a_budget_that_forbids_every_eviction_blocks_the_drain_and_says_so(
    cluster: Cluster, disruption: DisruptionController
) -> None:
    cluster.apply(deployment(replicas=2))
    cluster.store.create(budget(maxUnavailable=0))
    await cluster.until(lambda: status(cluster)["currentHealthy"] == 2)
    assert status(cluster)["disruptionsAllowed"] == 0
    drain = asyncio.ensure_future(evict_pods(engine_of(cluster), cluster.pods(), 12.0))
    await cluster.until(drain.done)

    with pytest.raises(DrainBlocked, match='drain blocked by PodDisruptionBudget "web" for 12 s'):
        drain.result()
    assert len(cluster.pods()) == 2  # nothing was evicted


async def test_an_unmanaged_pod_counts_for_an_integer_min_available_only(
    cluster: Cluster, disruption: DisruptionController
) -> None:
    pod = load_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: solo, labels: {app: web}}\n"
        "spec: {containers: [{name: app, image: busybox, command: [app]}]}\n"
    ).objects[0]
    cluster.store.create(pod.obj)
    cluster.store.create(budget(maxUnavailable=1))
    await cluster.until(lambda: status(cluster)["currentHealthy"] == 1)
    assert status(cluster)["expectedPods"] == 0 and status(cluster)["disruptionsAllowed"] == 0
    assert any("were found to be unmanaged" in m for m in cluster.events("UnmanagedPods"))


async def test_a_statefulsets_scale_counts_and_an_unknown_controller_fails_safe(
    cluster: Cluster, disruption: DisruptionController
) -> None:
    sts = load_text(
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec:\n  replicas: 3\n"
        "  serviceName: db\n  selector: {matchLabels: {app: web}}\n"
        "  template:\n    metadata: {labels: {app: web}}\n"
        "    spec: {containers: [{name: db, image: busybox, command: [app]}]}\n"
    ).objects[0]
    owner = cluster.store.create(sts.obj)
    for i in range(2):
        pod = (
            load_text(
                f"apiVersion: v1\nkind: Pod\nmetadata: {{name: db-{i}, labels: {{app: web}}}}\n"
                "spec: {containers: [{name: db, image: busybox, command: [app]}]}\n"
            )
            .objects[0]
            .obj
        )
        pod.metadata.owner_references = [
            OwnerReference(
                api_version="apps/v1",
                kind="StatefulSet",
                name="db",
                uid=owner.metadata.uid or "",
                controller=True,
            )
        ]
        cluster.store.create(pod)
    cluster.store.create(budget(maxUnavailable=1))
    await cluster.until(lambda: status(cluster)["currentHealthy"] == 2)
    assert (status(cluster)["expectedPods"], status(cluster)["desiredHealthy"]) == (3, 2)

    stray = (
        load_text(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: stray, labels: {app: web}}\n"
            "spec: {containers: [{name: db, image: busybox, command: [app]}]}\n"
        )
        .objects[0]
        .obj
    )
    stray.metadata.owner_references = [
        OwnerReference(api_version="example.com/v1", kind="Widget", name="w", uid="u-1", controller=True)
    ]
    cluster.store.create(stray)
    await cluster.until(lambda: status(cluster)["conditions"][0]["reason"] == "SyncFailed")
    (cond,) = status(cluster)["conditions"]
    assert (
        cond["message"] == 'found no controllers for pod "stray"'
        and status(cluster)["disruptionsAllowed"] == 0
    )
