"""A cluster on a fake clock: store, scheduler, kubelets over the scripted runtime, the Deployment
and ReplicaSet controllers and the garbage collector. Readiness is scripted per pod through
annotations of the pod template, so a rollout can be traced second by second without sleeping.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hitless.api import load_text
from hitless.api.types.apps import Deployment, ReplicaSet
from hitless.api.types.event import Event
from hitless.api.types.pod import Pod, Probe
from hitless.clock import FakeClock
from hitless.controllers.controller_utils import controller_ref, is_pod_ready
from hitless.controllers.deployment import DeploymentController
from hitless.controllers.garbagecollector import GarbageCollector
from hitless.controllers.replicaset import ReplicaSetController
from hitless.controllers.scheduler import Scheduler
from hitless.kubelet.prober.probers.base import ProbeOutcome, ProbeTarget
from hitless.kubelet.prober.results import Result
from hitless.runtime.fake import FakeProgram, FakeRuntime
from hitless.store.store import Store, WatchEvent
from tests.fake_node import fake_kubelet

# Pod template annotations read by the scripted readiness probe.
READY_AFTER = "test.hitless/ready-after"  # seconds of probing before the first success
NEVER_READY = "test.hitless/never-ready"


class ScriptedReadiness:
    """Readiness by annotation: ready at once, after some seconds of probing, or never."""

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self._first: dict[str, float] = {}

    async def probe(self, probe: Probe, target: ProbeTarget, timeout: float) -> ProbeOutcome:
        annotations = target.pod.metadata.annotations or {}
        if annotations.get(NEVER_READY):
            return ProbeOutcome(Result.FAILURE, "HTTP probe failed with statuscode: 503")
        first = self._first.setdefault(target.container_id, self._clock.now())
        if self._clock.now() - first < float(annotations.get(READY_AFTER, "0")):
            return ProbeOutcome(Result.FAILURE, "HTTP probe failed with statuscode: 503")
        return ProbeOutcome(Result.SUCCESS)


@dataclass
class Sample:
    time: float
    running: int  # pods that are not terminating (whatever their phase, until terminal)
    available: int  # Ready pods that are not terminating
    total: int  # every pod object, terminating ones included


@dataclass
class Cluster:
    clock: FakeClock
    store: Store
    runtime: FakeRuntime
    rs: ReplicaSetController
    dc: DeploymentController
    samples: list[Sample] = field(default_factory=list)
    scaling: list[tuple[float, str]] = field(default_factory=list)
    # (time, event type, pod) for every pod change
    pod_history: list[tuple[float, str, Pod]] = field(default_factory=list)

    def apply(self, manifest: dict[str, Any]) -> Deployment:
        result = load_text(json.dumps(manifest), "test.yaml")
        assert not result.errors, [e.format() for e in result.errors]
        obj = result.objects[0].obj
        assert isinstance(obj, Deployment)
        return self.store.create(obj)

    def deployment(self, name: str = "web") -> Deployment:
        d = self.store.get_typed(Deployment, "Deployment", "default", name)
        assert d is not None
        return d

    def update(self, name: str = "web", mutate: Callable[[Deployment], None] = lambda d: None) -> Deployment:
        d = self.deployment(name).copy_deep()
        mutate(d)
        return self.store.update(d)

    def replica_sets(self) -> list[ReplicaSet]:
        rss = [r for r in self.store.objects("ReplicaSet") if isinstance(r, ReplicaSet)]
        return sorted(rss, key=lambda r: (r.metadata.creation_timestamp, r.name))

    def pods(self, rs: ReplicaSet | None = None, active: bool = True) -> list[Pod]:
        out = []
        for p in self.store.pods():
            if active and p.metadata.deletion_timestamp is not None:
                continue
            ref = controller_ref(p)
            if rs is not None and (ref is None or ref.uid != rs.metadata.uid):
                continue
            out.append(p)
        return out

    def events(self, reason: str | None = None) -> list[str]:
        return [
            e.message
            for e in sorted(self.store.objects("Event"), key=lambda e: int(e.metadata.resource_version or 0))
            if isinstance(e, Event) and (reason is None or e.reason == reason)
        ]

    async def until(self, predicate: Callable[[], bool], timeout: float = 120.0, step: float = 0.25) -> float:
        start = self.clock.now()
        while not predicate():
            if self.clock.now() - start > timeout:
                raise AssertionError(f"condition not reached in {timeout}s of fake time")
            await self.clock.advance(step)
        return self.clock.now()

    async def run(self, seconds: float, step: float = 0.25) -> None:
        end = self.clock.now() + seconds
        while self.clock.now() < end:
            await self.clock.advance(min(step, end - self.clock.now()))

    def complete(self, name: str = "web") -> bool:
        d = self.deployment(name)
        cond = d.status.condition("Progressing")
        return (
            cond is not None
            and cond.reason == "NewReplicaSetAvailable"
            and (d.status.observed_generation or 0) >= (d.metadata.generation or 0)
            and (d.status.updated_replicas or 0) == d.spec.replicas
            and (d.status.replicas or 0) == d.spec.replicas
            and (d.status.available_replicas or 0) == d.spec.replicas
            and len(self.store.pods()) == d.spec.replicas
        )

    def window(self, start: float, end: float | None = None) -> list[Sample]:
        return [s for s in self.samples if s.time >= start and (end is None or s.time <= end)]


def deployment(
    name: str = "web",
    replicas: int = 3,
    version: str = "v1",
    strategy: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            **({"strategy": strategy} if strategy else {}),
            **spec,
            "template": {
                "metadata": {
                    "labels": {"app": name},
                    "annotations": {"version": version, **(annotations or {})},
                },
                "spec": {
                    "terminationGracePeriodSeconds": 5,
                    "containers": [
                        {
                            "name": "app",
                            "image": "busybox",
                            "command": ["app"],
                            "readinessProbe": {"httpGet": {"port": 8080}, "periodSeconds": 1},
                        }
                    ],
                },
            },
        },
    }


def set_version(version: str, **annotations: str) -> Callable[[Deployment], None]:
    def mutate(d: Deployment) -> None:
        d.spec.template.metadata.annotations = {
            **(d.spec.template.metadata.annotations or {}),
            "version": version,
            **annotations,
        }

    return mutate


@pytest.fixture
def stop_delay() -> float:
    """Seconds an app takes to exit after SIGTERM."""
    return 0.0


@pytest.fixture
async def cluster(tmp_path: Path, stop_delay: float) -> AsyncIterator[Cluster]:
    clock = FakeClock()
    store = Store(clock)
    runtime = FakeRuntime(clock, lambda config: FakeProgram(on_stop_signal=stop_delay))
    prober = ScriptedReadiness(clock)
    kubelet = fake_kubelet(clock, store, runtime, tmp_path, prober)
    scheduler = Scheduler(store, clock)
    rs = ReplicaSetController(store, clock)
    dc = DeploymentController(store, clock)
    gc = GarbageCollector(store)
    c = Cluster(clock, store, runtime, rs, dc)

    def record(event: WatchEvent) -> None:
        obj = event.object
        if isinstance(obj, Pod):
            c.pod_history.append((clock.now(), event.type, obj))
            pods = store.pods()
            running = [
                p
                for p in pods
                if p.metadata.deletion_timestamp is None and p.status.phase not in ("Succeeded", "Failed")
            ]
            c.samples.append(
                Sample(clock.now(), len(running), sum(1 for p in running if is_pod_ready(p)), len(pods))
            )
        elif isinstance(obj, Event) and obj.reason == "ScalingReplicaSet":
            c.scaling.append((clock.now(), obj.message))

    store.add_listener(record)
    kubelet.start()
    scheduler.start()
    rs.start()
    dc.start()
    gc.start()
    await clock.settle()
    yield c
    await dc.stop()
    await rs.stop()
    await gc.stop()
    await scheduler.stop()
    await kubelet.stop()
    await runtime.shutdown()
