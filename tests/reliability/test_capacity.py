"""`replicas` beyond what the nodes take: the rest Pending with the scheduler's reason and Event."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from hitless.api import load_text
from hitless.api.types.apps import Deployment
from hitless.api.types.event import Event
from hitless.api.types.node import Node
from hitless.api.types.pod import Pod
from hitless.clock import FakeClock
from hitless.engine import Engine, EngineOptions
from hitless.kubelet.capacity import MAX_PODS, MachineBudget, node_max_pods
from hitless.runtime.fake import FakeProgram, FakeRuntime
from hitless.supervised import stop_engine, supervise

TOO_MANY = (
    "0/2 nodes are available: 2 Too many pods. preemption: 0/2 nodes are available: "
    "2 No preemption victims found for incoming pod.."
)


def deployment(replicas: int) -> Deployment:
    text = f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{{name: app, image: busybox, command: [app]}}]
"""
    result = load_text(text, "web.yaml")
    obj = result.objects[0].obj
    assert isinstance(obj, Deployment)
    return obj


async def engine_of(tmp_path: Path, max_pods: int) -> tuple[Engine, FakeClock]:
    clock = FakeClock()
    supervise()
    runtime = FakeRuntime(clock, lambda config: FakeProgram())
    engine = Engine(runtime, clock, EngineOptions(nodes=2, log_dir=tmp_path, seed=1, max_pods=max_pods))
    await engine.start()
    return engine, clock


def scheduled(engine: Engine) -> list[Pod]:
    return [p for p in engine.pods() if p.spec.node_name]


def pending(engine: Engine) -> list[Pod]:
    return [p for p in engine.pods() if not p.spec.node_name]


async def test_pods_past_the_nodes_capacity_stay_pending_with_the_schedulers_words(tmp_path: Path) -> None:
    engine, clock = await engine_of(tmp_path, max_pods=5)
    engine.apply([deployment(12)])
    await clock.advance(5)
    nodes = [n for n in engine.store.objects("Node") if isinstance(n, Node)]
    assert [(n.status.capacity, n.status.allocatable) for n in nodes] == [({"pods": "5"}, {"pods": "5"})] * 2
    assert len(scheduled(engine)) == 10
    assert sum(p.status.phase == "Running" for p in engine.pods()) == 10
    waiting = pending(engine)
    assert len(waiting) == 2
    for pod in waiting:
        assert pod.status.phase == "Pending"
        [condition] = [c for c in pod.status.conditions or [] if c.type == "PodScheduled"]
        assert (condition.status, condition.reason, condition.message) == ("False", "Unschedulable", TOO_MANY)
    events = [
        e for e in engine.store.objects("Event") if isinstance(e, Event) and e.reason == "FailedScheduling"
    ]
    assert {e.message for e in events} == {TOO_MANY}
    assert {e.involved_object.name for e in events} == {p.name for p in waiting}
    assert all(e.type == "Warning" and e.source and e.source.component == "default-scheduler" for e in events)

    # A slot freed: the first of the waiting pods (by creation) takes it; the ReplicaSet's
    # replacement of the deleted pod waits in its turn.
    first = waiting[0]  # (the store lists pods in the order they were created)
    victim = scheduled(engine)[0]
    engine.store.delete("Pod", victim.namespace, victim.name)
    await clock.advance(5)
    assert engine.store.get("Pod", victim.namespace, victim.name) is None
    now = engine.store.get_typed(Pod, "Pod", first.namespace, first.name)
    assert now is not None and now.spec.node_name
    assert len(scheduled(engine)) == 10 and len(pending(engine)) == 2

    # Ctrl-C: every pod goes, scheduled or not.
    supervisor_stop = asyncio.ensure_future(stop_engine(engine, supervise(), lambda _: None))
    while not supervisor_stop.done():
        await clock.advance(0.5)
    supervisor_stop.result()
    assert engine.pods() == []


async def test_thousands_of_replicas_start_what_fits_and_stop_promptly(tmp_path: Path) -> None:
    engine, clock = await engine_of(tmp_path, max_pods=MAX_PODS)
    started = time.monotonic()
    engine.apply([deployment(1000)])
    while len(engine.pods()) < 1000 or sum(p.status.phase == "Running" for p in engine.pods()) < 2 * MAX_PODS:
        await clock.advance(1)
    assert len(scheduled(engine)) == 2 * MAX_PODS
    assert len(pending(engine)) == 1000 - 2 * MAX_PODS
    stopping = asyncio.ensure_future(stop_engine(engine, supervise(), lambda _: None))
    while not stopping.done():
        await clock.advance(0.5)
    stopping.result()
    assert engine.pods() == []
    # Wall time of the whole thing on the fake runtime: the scheduler's cache keeps it linear.
    assert time.monotonic() - started < 60


def test_each_node_takes_its_share_of_the_machine() -> None:
    assert node_max_pods(2, MachineBudget(10_000, "x")) == MAX_PODS
    assert node_max_pods(2, MachineBudget(47, "RLIMIT_NOFILE 1024 (16 a pod)")) == 23
    assert node_max_pods(5, MachineBudget(3, "x")) == 1


async def test_a_pod_bound_past_max_pods_is_rejected_by_the_kubelet(tmp_path: Path) -> None:
    # A pod that names its node bypasses the scheduler: the kubelet's admission refuses it.
    engine, clock = await engine_of(tmp_path, max_pods=2)
    for i in range(3):
        text = (
            f"apiVersion: v1\nkind: Pod\nmetadata: {{name: pinned-{i}}}\n"
            "spec: {nodeName: node-1, containers: [{name: app, image: busybox, command: [app]}]}\n"
        )
        obj = load_text(text, "pod.yaml").objects[0].obj
        assert isinstance(obj, Pod)
        engine.apply([obj])
        await clock.advance(1)
    phases = {p.name: (p.status.phase, p.status.reason, p.status.message) for p in engine.pods()}
    message = "Node didn't have enough resource: pods, requested: 1, used: 2, capacity: 2"
    assert phases == {
        "pinned-0": ("Running", None, None),
        "pinned-1": ("Running", None, None),
        "pinned-2": ("Failed", "OutOfpods", f"Pod was rejected: {message}"),
    }
    events = [e for e in engine.store.objects("Event") if isinstance(e, Event) and e.reason == "OutOfpods"]
    assert [(e.type, e.message, e.involved_object.name) for e in events] == [("Warning", message, "pinned-2")]
    await engine.delete_all_pods()
    assert engine.pods() == []
