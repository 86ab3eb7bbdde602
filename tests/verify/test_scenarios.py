"""What ``hitless verify`` says while it waits for the workload, and when it gives up."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

import pytest

from hitless.api.types.pod import Pod, PodCondition
from hitless.clock import FakeClock
from hitless.engine import Engine
from hitless.verify.scenarios import ScenarioTimeout, Workload, unsettled, wait_settled


def pod(name: str, ready: bool, node: str | None = "node-1", waiting: str | None = None) -> Pod:
    status: dict[str, Any] = {
        "phase": "Running" if node else "Pending",
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
    }
    if waiting:
        status["containerStatuses"] = [
            {"name": "web", "ready": False, "restartCount": 3, "image": "x", "imageID": "",
             "state": {"waiting": {"reason": waiting}}}
        ]  # fmt: skip
    return Pod.from_json(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
            "spec": {"nodeName": node, "containers": [{"name": "web", "image": "x"}]},
            "status": status,
        }
    )


def fake_engine(pods: list[Pod], clock: FakeClock) -> Engine:
    return cast(Engine, SimpleNamespace(store=SimpleNamespace(pods=lambda: pods), clock=clock))


PODS = [pod("web-a", True), pod("web-b", False, waiting="CrashLoopBackOff"), pod("web-c", False, node=None)]
WORKLOAD = Workload("default", None, lambda p: (p.metadata.labels or {}).get("app") == "web")


def test_unsettled_says_what_kubectl_get_pods_would() -> None:
    engine = fake_engine(PODS, FakeClock())
    assert unsettled(engine, WORKLOAD, 3) == (
        "1 of 3 pods Ready; web-b: CrashLoopBackOff; web-c: Pending (not scheduled)"
    )


def test_an_unscheduled_pod_says_the_schedulers_reason() -> None:
    pinned = pod("web-0", False, node=None)
    message = (
        "0/3 nodes are available: 1 node(s) had volume node affinity conflict, 2 node(s) were "
        "unschedulable. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.."
    )
    pinned.status.conditions = [
        PodCondition(type="PodScheduled", status="False", reason="Unschedulable", message=message)
    ]
    engine = fake_engine([pinned], FakeClock())
    assert unsettled(engine, WORKLOAD, 1) == f"0 of 1 pods Ready; web-0: Pending (not scheduled: {message})"


async def test_a_workload_that_never_settles_ends_with_why_and_notes_progress_meanwhile() -> None:
    clock = FakeClock()
    engine = fake_engine(PODS, clock)
    notes: list[str] = []
    waiting = asyncio.ensure_future(wait_settled(engine, WORKLOAD, 25.0, note=notes.append, note_every=10.0))
    await clock.advance(30.0)
    with pytest.raises(ScenarioTimeout, match="did not settle within 25 s: 1 of 3 pods Ready; web-b: Crash"):
        await waiting
    assert [n.split(":")[0] for n in notes] == ["still waiting (10 s)", "still waiting (20 s)"]
