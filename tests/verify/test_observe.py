"""The timeline fed by the real kubelet on a fake clock: store changes and the observed runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from hitless.api.types.pod import Pod
from hitless.clock import FakeClock
from hitless.proxy.records import ProxySync, SyncedEndpoint
from hitless.runtime import cri
from hitless.runtime.fake import FakeProgram, FakeRuntime
from hitless.store.store import Store
from hitless.verify import timeline as tl
from hitless.verify.observe import ObservedRuntime, TimelineRecorder
from hitless.verify.timeline import Timeline
from tests.fake_node import fake_kubelet

Programs = dict[str, Callable[[cri.ContainerConfig], FakeProgram]]


def pod(name: str, grace: int, pre_stop: dict[str, Any] | None = None, readiness: bool = True) -> Pod:
    container: dict[str, Any] = {"name": "app", "image": "x", "command": ["app"]}
    if pre_stop:
        container["lifecycle"] = {"preStop": pre_stop}
    if readiness:
        container["readinessProbe"] = {"tcpSocket": {"port": 80}, "periodSeconds": 1}
    return Pod.from_json(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
            "spec": {"nodeName": "node-1", "terminationGracePeriodSeconds": grace, "containers": [container]},
        }
    )


class AlwaysReady:
    async def probe(self, probe: object, target: object, timeout: float) -> object:
        from hitless.kubelet.prober.probers.base import ProbeOutcome
        from hitless.kubelet.prober.results import Result

        return ProbeOutcome(Result.SUCCESS)


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[tuple[FakeClock, Store, Timeline, Programs]]:
    clock = FakeClock()
    store = Store(clock)
    timeline = Timeline()
    programs: Programs = {}
    fake = FakeRuntime(clock, lambda c: programs.get(c.name, lambda _: FakeProgram())(c))
    runtime = ObservedRuntime(fake, clock, timeline)
    store.add_listener(TimelineRecorder(timeline, clock))
    prober = AlwaysReady()
    kubelet = fake_kubelet(clock, store, runtime, tmp_path, prober)
    kubelet.start()
    await clock.settle()
    yield clock, store, timeline, programs
    await kubelet.stop()
    await runtime.shutdown()


async def test_stop_signal_after_prestop_and_kill_at_the_grace_deadline(
    cluster: tuple[FakeClock, Store, Timeline, Programs],
) -> None:
    clock, store, timeline, programs = cluster
    programs["app"] = lambda c: FakeProgram(on_stop_signal=None)  # ignores SIGTERM
    store.create(pod("web", grace=5, pre_stop={"sleep": {"seconds": 2}}))
    await clock.advance(10)
    life = timeline.pods["default/web"]
    assert life.created == 0 and life.started and life.started[0][0] < 1
    ready_at = life.first_ready()
    assert ready_at is not None and ready_at < 3
    assert life.phase_at(ready_at + 0.1) == tl.READY
    store.delete("Pod", "default", "web")
    await clock.advance(20)
    assert life.deleted == 10 and life.grace == 5
    stop = life.termination_stop()
    assert stop is not None and stop.at == 12 and stop.timeout == 3
    kill = life.kill()
    assert kill is not None and kill.at == 15 and kill.exit_code == 137
    assert life.phase_at(11) == tl.TERMINATING
    assert life.phase_at(13) == tl.STOPPING
    assert life.phase_at(15.5) == tl.KILLED or life.phase_at(15.5) == tl.GONE
    assert life.gone is not None and life.gone >= 15
    assert life.phase_at(life.gone) == tl.GONE
    assert not life.ready_at(10.5) or life.phase_at(10.5) == tl.TERMINATING
    assert any(reason == "Killing" for _, reason, _ in life.events)


async def test_clean_exit_is_not_a_kill(cluster: tuple[FakeClock, Store, Timeline, Programs]) -> None:
    clock, store, timeline, programs = cluster
    programs["app"] = lambda c: FakeProgram(on_stop_signal=0.5, term_exit_code=0)
    store.create(pod("web", grace=30))
    await clock.advance(5)
    store.delete("Pod", "default", "web")
    await clock.advance(5)
    life = timeline.pods["default/web"]
    stop = life.termination_stop()
    assert stop is not None and stop.at == 5
    assert life.kill() is None
    assert [(e.at, e.exit_code, e.killed) for e in life.exits] == [(5.5, 0, False)]
    assert life.phase_at(5.2) == tl.STOPPING


async def test_syncs_become_routing_intervals() -> None:
    timeline = Timeline()
    for name in ("a", "b"):
        timeline.ensure("default", name)

    def ep(name: str) -> SyncedEndpoint:
        return SyncedEndpoint(f"default/{name}", ("127.244.0.1", 80), True, True, False, "node-1")

    syncs = [
        ProxySync("node-1", "default/web", 1.0, (ep("a"),)),
        ProxySync("node-2", "default/web", 1.5, (ep("a"), ep("b"))),
        ProxySync("node-1", "default/web", 2.0, (ep("a"), ep("b"))),
        ProxySync("node-1", "default/web", 5.0, (ep("b"),)),
        ProxySync("node-2", "default/web", 6.2, (ep("b"),)),
        ProxySync("node-1", "default/other", 5.5, ()),
    ]
    timeline.apply_syncs(syncs, "default/web")
    a, b = timeline.pods["default/a"], timeline.pods["default/b"]
    assert a.routed == {"node-1": [[1.0, 5.0]], "node-2": [[1.5, 6.2]]}
    assert b.routed == {"node-2": [[1.5, None]], "node-1": [[2.0, None]]}
    assert a.unrouted("node-2") == 6.2 and a.routed_by("node-2", 6.0) and not a.routed_by("node-1", 5.0)
