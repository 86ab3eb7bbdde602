"""The store's API-server behaviour the kubelet depends on: create, bind, graceful delete,
watches that cannot grow without bound, Events that are garbage-collected."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from hitless.api.types.pod import Pod
from hitless.clock import FakeClock
from hitless.store import events
from hitless.store.events import EventRecorder
from hitless.store.store import Store, WatchEvent, WatchExpired

from .conftest import Env, make_pod


def recorded(store: Store) -> list[WatchEvent]:
    seen: list[WatchEvent] = []
    store.add_listener(seen.append)
    return seen


def test_create_sets_pending_and_qos_class() -> None:
    store = Store(FakeClock())
    body = make_pod(
        containers=[{"name": "a", "image": "x", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]
    )
    body.status.phase = "Running"  # whatever a client sends, the API server decides
    pod = store.create(body)
    assert pod.status.phase == "Pending" and pod.status.qos_class == "Guaranteed"
    assert pod.metadata.generation == 1


def test_bind_sets_node_and_pod_scheduled() -> None:
    clock = FakeClock()
    store = Store(clock)
    store.create(make_pod(nodeName=None))
    pod = store.bind("default", "web", "node-2")
    assert pod.spec.node_name == "node-2"
    cond = pod.status.condition("PodScheduled")
    assert cond is not None and cond.status == "True" and cond.last_transition_time == clock.wall()


def test_graceful_delete_then_kubelet_delete() -> None:
    clock = FakeClock()
    store = Store(clock)
    store.create(make_pod())
    seen = recorded(store)
    pod = store.delete("Pod", "default", "web")
    assert isinstance(pod, Pod)
    assert pod.metadata.deletion_grace_period_seconds == 30
    assert pod.metadata.deletion_timestamp == clock.wall() + timedelta(seconds=30)
    assert pod.metadata.generation == 2  # the first graceful deletion bumps the generation
    # A longer grace period changes nothing; the kubelet's final delete (grace 0) is written
    # first, then the object goes.
    store.delete("Pod", "default", "web", grace_period_seconds=60)
    store.delete("Pod", "default", "web", grace_period_seconds=0)
    assert [e.type for e in seen] == ["MODIFIED", "MODIFIED", "DELETED"]
    last = seen[1].object
    assert last.metadata.deletion_grace_period_seconds == 0
    assert last.metadata.deletion_timestamp == clock.wall()  # moved back, not into the past
    assert seen[2].object.metadata.resource_version == str(seen[2].resource_version)
    assert store.get("Pod", "default", "web") is None


async def test_shortened_grace_moves_the_deletion_timestamp_back() -> None:
    clock = FakeClock()
    store = Store(clock)
    store.create(make_pod(terminationGracePeriodSeconds=60))
    first = store.delete("Pod", "default", "web")
    await clock.advance(10)
    second = store.delete("Pod", "default", "web", grace_period_seconds=30)
    assert second.metadata.deletion_grace_period_seconds == 30
    assert second.metadata.deletion_timestamp == first.metadata.deletion_timestamp - timedelta(seconds=30)
    await clock.advance(10)
    third = store.delete("Pod", "default", "web", grace_period_seconds=5)  # 5 s after the first: past
    assert third.metadata.deletion_grace_period_seconds == 1
    assert third.metadata.deletion_timestamp == clock.wall()


@pytest.mark.parametrize("spec", [{"nodeName": None}, {}])
def test_unscheduled_or_finished_pods_go_at_once(spec: dict) -> None:
    store = Store(FakeClock())
    store.create(make_pod(**spec))
    if spec == {}:
        finished = store.get_typed(Pod, "Pod", "default", "web")
        assert finished is not None
        done = finished.copy_deep()
        done.status.phase = "Succeeded"
        store.update_status(done)
    seen = recorded(store)
    store.delete("Pod", "default", "web")
    assert [e.type for e in seen] == ["MODIFIED", "DELETED"]
    assert seen[0].object.metadata.deletion_grace_period_seconds == 0


async def test_a_watch_that_falls_behind_expires() -> None:
    store = Store(FakeClock())
    watch = store.watch(["Pod"])
    watch._limit = 3
    for i in range(5):
        store.create(make_pod(f"p{i}"))
    assert watch.closed
    with pytest.raises(WatchExpired):
        await watch.__anext__()


async def test_kubelet_relists_after_its_watch_expired(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    env.store.create(make_pod("a"))
    env.store.create(make_pod("b"))
    await env.clock.advance(1)
    assert len(env.kubelet.workers) == 2
    [kubelet_watch] = [w for w in env.store._watches if w._kinds == frozenset({"Pod"})]
    kubelet_watch._limit = 0
    env.store.delete("Pod", "default", "a", grace_period_seconds=0)  # lost with the expired watch
    env.store.create(make_pod("c"))
    await env.clock.advance(5)
    # The kubelet listed again: "a" is terminated and forgotten, "c" runs.
    assert sorted(w.pod.name for w in env.kubelet.workers.values()) == ["b", "c"]
    assert env.pod("c").status.phase == "Running"
    assert [e.detail for e in env.runtime.events("app", "signal")] == ["SIGTERM"]


def test_event_recorder_forgets_collected_events(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "MAX_EVENTS", 3)
    store = Store(FakeClock())
    pod = store.create(make_pod())
    recorder = EventRecorder(store, FakeClock(), "kubelet", "node-1")
    for i in range(10):
        recorder.event(pod, "Normal", "Test", f"message {i}")
    assert len(store.objects("Event")) == 3
    assert len(recorder._seen) == 3
    again = recorder.event(pod, "Normal", "Test", "message 0")  # collected: a new Event, count 1
    assert again.count == 1


async def test_fake_clock_settles_long_chains_before_moving() -> None:
    clock = FakeClock()
    done: list[float] = []

    async def chain() -> None:
        for _ in range(200):
            await asyncio.sleep(0)
        done.append(clock.now())

    tasks = [asyncio.ensure_future(chain()), asyncio.ensure_future(clock.sleep(5))]
    await clock.advance(10)
    assert done == [0.0]
    assert all(t.done() for t in tasks)
