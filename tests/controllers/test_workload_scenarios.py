"""verify's scenarios on StatefulSets and DaemonSets, on the fake clock: each acts as kubectl
would on that kind (rollout restart, delete, scale, drain) and waits as `kubectl rollout status`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from hitless.engine import Engine
from hitless.store.apply import rollout_restart_workload
from hitless.store.eviction import evict
from hitless.verify.scenarios import Workload, run_once, wait_settled

from .workloads import Workloads, daemonset, statefulset, workloads_cluster


def engine_of(w: Workloads) -> Engine:
    return cast(
        Engine,
        SimpleNamespace(
            store=w.store,
            clock=w.clock,
            rollout_restart_workload=lambda kind, ns, name: rollout_restart_workload(
                w.store, w.clock, kind, ns, name
            ),
            evict=lambda ns, name: evict(w.store, w.clock, ns, name),
        ),
    )


def selects(app: str) -> Workload:
    return Workload("default", app, lambda p: (p.metadata.labels or {}).get("app") == app)


async def drive(w: Workloads, work: asyncio.Future[str], timeout: float = 300.0) -> str:
    """Advance the fake clock until the scenario is done. The scenarios also sleep 0.1 s of real
    time after acting (to let the controllers see the change): each step yields 1 ms of real time,
    so that fake time runs at most 100 times faster than real time meanwhile, whatever the load."""
    start = w.clock.now()
    while not work.done():
        assert w.clock.now() - start < timeout, "scenario did not finish"
        await w.clock.advance(0.1)
        await asyncio.sleep(0.001)
    return work.result()


def names(w: Workloads) -> dict[str, str]:
    return {p.name: p.metadata.uid or "" for p in w.pods()}


async def test_statefulset_rollout_delete_scale_and_drain(tmp_path: Path) -> None:
    async with workloads_cluster(tmp_path, nodes=2) as w:
        w.apply(statefulset(replicas=3))
        workload = Workload("default", "web", selects("web").selects, kind="StatefulSet")
        engine = engine_of(w)
        await drive(w, asyncio.ensure_future(wait_settled(engine, workload, 120)))
        before = names(w)

        what = await drive(w, asyncio.ensure_future(run_once(engine, workload, "rollout", 120)))
        assert what == "rollout restart statefulset/web"
        after = names(w)
        assert sorted(after) == ["web-0", "web-1", "web-2"] and not set(after.values()) & set(before.values())
        template = w.get("StatefulSet", "web").spec.template
        assert "kubectl.kubernetes.io/restartedAt" in (template.metadata.annotations or {})

        what = await drive(w, asyncio.ensure_future(run_once(engine, workload, "delete-pod", 120)))
        assert what.startswith("delete pod/web-") and sorted(names(w)) == ["web-0", "web-1", "web-2"]

        what = await drive(w, asyncio.ensure_future(run_once(engine, workload, "scale-down", 120)))
        assert what == "scale statefulset/web 3 → 2 → 3"

        what = await drive(w, asyncio.ensure_future(run_once(engine, workload, "node-drain", 120)))
        assert what.startswith("drain node/node-")
        assert sorted(names(w)) == ["web-0", "web-1", "web-2"] and all(p.is_ready() for p in w.pods())


async def test_daemonset_rollout_and_drain_leaves_its_pods(tmp_path: Path) -> None:
    async with workloads_cluster(tmp_path, nodes=2) as w:
        w.apply(daemonset())
        workload = Workload("default", "agent", selects("agent").selects, kind="DaemonSet")
        engine = engine_of(w)
        await drive(w, asyncio.ensure_future(wait_settled(engine, workload, 120)))
        before = names(w)
        what = await drive(w, asyncio.ensure_future(run_once(engine, workload, "rollout", 120)))
        assert what == "rollout restart daemonset/agent"
        after = names(w)
        assert len(after) == 2 and not set(after) & set(before)
        assert sorted(p.spec.node_name or "" for p in w.pods()) == ["node-1", "node-2"]
        with pytest.raises(ValueError, match="does not evict DaemonSet pods"):
            await drive(w, asyncio.ensure_future(run_once(engine, workload, "node-drain", 120)))
        with pytest.raises(ValueError, match="needs a Deployment or StatefulSet"):
            await drive(w, asyncio.ensure_future(run_once(engine, workload, "scale-down", 120)))
