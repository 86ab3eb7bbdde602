"""The scheduler's Events and conditions, and kubectl's pod row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hitless.api.types.meta import ObjectMeta
from hitless.api.types.node import Node, NodeSpec
from hitless.api.types.pod import Pod
from hitless.clock import FakeClock
from hitless.controllers.scheduler import Scheduler
from hitless.output.printers import human_duration, pod_row
from hitless.store.store import Store

from .conftest import make_pod


def node(name: str, unschedulable: bool = False, labels: dict[str, str] | None = None) -> Node:
    return Node(
        metadata=ObjectMeta(name=name, labels=labels or {}), spec=NodeSpec(unschedulable=unschedulable)
    )


def failed_scheduling(store: Store) -> list[str]:
    return [
        e.to_json()["message"] for e in store.objects("Event") if e.to_json()["reason"] == "FailedScheduling"
    ]


def test_no_nodes() -> None:
    store = Store(FakeClock())
    pod = store.create(make_pod(nodeName=None))
    assert Scheduler(store, FakeClock()).schedule(pod) is None
    assert failed_scheduling(store) == ["no nodes available to schedule pods"]


def test_unschedulable_message_and_condition() -> None:
    clock = FakeClock()
    store = Store(clock)
    store.create(node("node-1", unschedulable=True))
    store.create(node("node-2", labels={"disk": "hdd"}))
    store.create(node("node-3", labels={"disk": "hdd"}))
    pod = store.create(make_pod(nodeName=None, nodeSelector={"disk": "ssd"}))
    scheduler = Scheduler(store, clock)
    assert scheduler.schedule(pod) is None
    message = (
        "0/3 nodes are available: 1 node(s) were unschedulable, 2 node(s) didn't match Pod's node "
        "affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.."
    )
    assert failed_scheduling(store) == [message]
    cond = store.get_typed(Pod, "Pod", "default", "web").status.condition("PodScheduled")  # type: ignore[union-attr]
    assert cond is not None and (cond.status, cond.reason, cond.message) == (
        "False",
        "Unschedulable",
        message,
    )
    # A matching node appears: bound, PodScheduled True, Scheduled Event.
    store.create(node("node-4", labels={"disk": "ssd"}))
    assert scheduler.schedule(store.get_typed(Pod, "Pod", "default", "web")) == "node-4"  # type: ignore[arg-type]
    bound = store.get_typed(Pod, "Pod", "default", "web")
    assert bound is not None and bound.status.condition("PodScheduled").status == "True"  # type: ignore[union-attr]
    scheduled = [
        e.to_json()["message"] for e in store.objects("Event") if e.to_json()["reason"] == "Scheduled"
    ]
    assert scheduled == ["Successfully assigned default/web to node-4"]


def status_pod(**status: Any) -> Pod:
    pod = make_pod(initContainers=[{"name": "proxy", "image": "x", "restartPolicy": "Always"}])
    pod.metadata.creation_timestamp = NOW - timedelta(seconds=30)
    pod.status = Pod.from_json({**pod.to_json(), "status": status}).status
    return pod


NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_row_of_a_pod_whose_sidecar_has_not_started() -> None:
    pod = status_pod(
        phase="Pending",
        initContainerStatuses=[
            {"name": "proxy", "state": {"running": {}}, "started": False, "restartCount": 0}
        ],
        containerStatuses=[{"name": "app", "state": {"waiting": {"reason": "PodInitializing"}}}],
    )
    assert pod_row(pod, NOW) == ("web", "0/2", "Init:0/1", "0", "30s")


def test_row_counts_sidecar_restarts_with_their_own_date() -> None:
    earlier = (NOW - timedelta(minutes=5)).isoformat()
    pod = status_pod(
        phase="Running",
        conditions=[{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
        initContainerStatuses=[
            {
                "name": "proxy",
                "state": {"running": {}},
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": earlier}},
                "started": True,
                "ready": True,
                "restartCount": 2,
            }
        ],
        containerStatuses=[{"name": "app", "state": {"running": {}}, "ready": True, "restartCount": 1}],
    )
    assert pod_row(pod, NOW) == ("web", "2/2", "Running", "3 (5m ago)", "30s")


def test_row_of_a_terminating_pod() -> None:
    pod = status_pod(phase="Running", containerStatuses=[{"name": "app", "state": {"running": {}}}])
    pod.metadata.deletion_timestamp = NOW
    assert pod_row(pod, NOW)[2] == "Terminating"


def test_human_duration() -> None:
    day = 24 * 3600
    assert [human_duration(s) for s in (-5, -1, 119, 125, 600, 3 * 3600 + 60)] == [
        "<invalid>",
        "0s",
        "119s",
        "2m5s",
        "10m",
        "3h1m",
    ]
    assert human_duration(3 * 365 * day + 10 * day) == "3y10d"
    assert human_duration(9 * 365 * day) == "9y"
