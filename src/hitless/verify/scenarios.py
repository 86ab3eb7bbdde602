"""Scenarios: what ``hitless verify`` does to the workload while the load runs.

Each drives the engine the way ``kubectl`` would (rollout restart, delete, scale) and waits, on
store state, until the workload is settled again: every wanted pod Ready, none terminating.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from hitless.api.types.apps import Deployment
from hitless.api.types.pod import Pod
from hitless.engine import Engine
from hitless.store.store import NotFound

SCENARIOS = ("rollout", "delete-pod", "scale-down", "liveness-restart", "node-drain")
# Not driven yet: they need an app-side trigger (liveness) and node cordoning (drain).
UNSUPPORTED = {"liveness-restart", "node-drain"}


class ScenarioTimeout(Exception):
    pass


@dataclass
class Workload:
    namespace: str
    # The Deployment that owns the Service's pods, or None for bare Pods.
    deployment: str | None
    selects: Callable[[Pod], bool]


def desired(engine: Engine, workload: Workload) -> int:
    if workload.deployment is None:
        return len([p for p in engine.store.pods() if workload.selects(p)])
    dep = engine.store.get("Deployment", workload.namespace, workload.deployment)
    replicas = dep.spec.replicas if isinstance(dep, Deployment) else None
    return 1 if replicas is None else replicas


def settled(engine: Engine, workload: Workload, want: int) -> bool:
    pods = [p for p in engine.store.pods() if workload.selects(p)]
    live = [p for p in pods if p.metadata.deletion_timestamp is None]
    if len(live) != want or len(pods) != want or not all(p.is_ready() for p in live):
        return False
    if workload.deployment is None:
        return True
    dep = engine.store.get("Deployment", workload.namespace, workload.deployment)
    if not isinstance(dep, Deployment) or dep.status is None:
        return False
    st = dep.status
    return (
        (st.updated_replicas or 0) == want
        and (st.available_replicas or 0) == want
        and (st.observed_generation or 0) >= (dep.metadata.generation or 0)
    )


async def wait_settled(engine: Engine, workload: Workload, timeout: float) -> None:
    deadline = engine.clock.now() + timeout
    want = desired(engine, workload)
    while not settled(engine, workload, want):
        if engine.clock.now() > deadline:
            raise ScenarioTimeout(f"the workload did not settle within {timeout:.0f} s")
        await asyncio.sleep(0.05)


async def run_once(engine: Engine, workload: Workload, scenario: str, timeout: float) -> str:
    """Run the scenario once and wait until the workload has settled; return what was done."""
    ns = workload.namespace
    if scenario == "rollout":
        if workload.deployment is None:
            raise ValueError("the rollout scenario needs a Deployment behind the Service")
        engine.rollout_restart(ns, workload.deployment)
        # Let the controller see the new template before judging "settled".
        await asyncio.sleep(0.1)
        what = f"rollout restart deployment/{workload.deployment}"
    elif scenario == "delete-pod":
        pods = sorted(
            (p for p in engine.store.pods() if workload.selects(p) and p.metadata.deletion_timestamp is None),
            key=lambda p: p.metadata.creation_timestamp.timestamp() if p.metadata.creation_timestamp else 0.0,
        )
        if not pods:
            raise ValueError("no pod to delete")
        with contextlib.suppress(NotFound):
            engine.store.delete("Pod", ns, pods[0].name)
        await asyncio.sleep(0.1)
        what = f"delete pod/{pods[0].name}"
    elif scenario == "scale-down":
        if workload.deployment is None:
            raise ValueError("the scale-down scenario needs a Deployment behind the Service")
        want = desired(engine, workload)
        if want < 2:
            raise ValueError("scale-down needs at least 2 replicas")
        engine.scale(ns, workload.deployment, want - 1)
        await asyncio.sleep(0.1)
        await wait_settled(engine, workload, timeout)
        engine.scale(ns, workload.deployment, want)
        await asyncio.sleep(0.1)
        what = f"scale deployment/{workload.deployment} {want} → {want - 1} → {want}"
    else:
        raise ValueError(f"scenario {scenario!r} is not supported yet")
    await wait_settled(engine, workload, timeout)
    return what
