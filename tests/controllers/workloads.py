"""A fake-clock cluster for StatefulSets and DaemonSets: N kubelets over the scripted runtime, the
scheduler, the StatefulSet and DaemonSet controllers and the garbage collector. Readiness is
scripted per pod by the annotations of conftest (READY_AFTER, NEVER_READY)."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hitless.api import load_text
from hitless.api.types.event import Event
from hitless.api.types.meta import K8sObject
from hitless.api.types.pod import Pod
from hitless.clock import FakeClock
from hitless.controllers.cronjob import CronJobController
from hitless.controllers.daemonset import DaemonSetController
from hitless.controllers.garbagecollector import GarbageCollector
from hitless.controllers.job import JobController
from hitless.controllers.scheduler import Scheduler
from hitless.controllers.statefulset import StatefulSetController
from hitless.kubelet.images import ImageService
from hitless.kubelet.kubelet import Kubelet
from hitless.runtime.cri import ContainerConfig
from hitless.runtime.fake import FakeProgram, FakeRuntime
from hitless.runtime.network import PodNetwork
from hitless.store.store import Store, WatchEvent

from .conftest import ScriptedReadiness


@dataclass
class Workloads:
    clock: FakeClock
    store: Store
    # (time, type, pod name, node, ready, terminating) for every pod change
    trace: list[tuple[float, str, Pod]] = field(default_factory=list)

    def apply(self, manifest: dict[str, Any]) -> K8sObject:
        result = load_text(json.dumps(manifest), "test.yaml")
        assert not result.errors, [e.format() for e in result.errors]
        return self.store.create(result.objects[0].obj)

    def get(self, kind: str, name: str) -> Any:
        # Nodes are cluster-scoped: no namespace in the store's key.
        obj = self.store.get(kind, "" if kind == "Node" else "default", name)
        assert obj is not None
        return obj

    def update(self, kind: str, name: str, mutate: Callable[[Any], None]) -> K8sObject:
        obj = self.get(kind, name).copy_deep()
        mutate(obj)
        return self.store.update(obj)

    def pods(self, active: bool = True) -> list[Pod]:
        pods = self.store.pods(lambda p: not active or p.metadata.deletion_timestamp is None)
        return sorted(pods, key=lambda p: p.name)

    def events(self, reason: str | None = None) -> list[str]:
        return [
            e.message or ""
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


def scripted_program(config: ContainerConfig) -> FakeProgram:
    """A container that exits by itself when its args say so: ``--exit-after=S --exit-code=N``,
    or, with ``--fail-attempts=K``, fails its first K attempts (one count per container name and
    pod name prefix, so that a Job's replacement pods count on)."""
    opts = dict(a.removeprefix("--").split("=", 1) for a in config.argv if a.startswith("--") and "=" in a)
    if "exit-after" not in opts:
        return FakeProgram()
    code = int(opts.get("exit-code", "0"))
    key = opts.get("fail-key", "")
    if "fail-attempts" in opts:
        _attempts[key] = _attempts.get(key, 0) + 1
        code = 1 if _attempts[key] <= int(opts["fail-attempts"]) else 0
    return FakeProgram(exit_after=float(opts["exit-after"]), exit_code=code)


_attempts: dict[str, int] = {}


@asynccontextmanager
async def workloads_cluster(tmp_path: Path, nodes: int = 1) -> AsyncIterator[Workloads]:
    clock = FakeClock()
    store = Store(clock)
    runtime = FakeRuntime(clock, scripted_program)
    prober = ScriptedReadiness(clock)
    network = PodNetwork(runtime)
    kubelets = [
        Kubelet(
            f"node-{i}",
            f"127.0.1.{i}",
            clock,
            store,
            runtime,
            network,
            ImageService(),
            tmp_path / f"node-{i}",
            rng=random.Random(i),
            retry_jitter=0.0,
            probers=lambda probe: prober,
        )
        for i in range(1, nodes + 1)
    ]
    scheduler = Scheduler(store, clock)
    sts = StatefulSetController(store, clock)
    ds = DaemonSetController(store, clock)
    jobs = JobController(store, clock)
    cronjobs = CronJobController(store, clock)
    gc = GarbageCollector(store)
    w = Workloads(clock, store)

    def record(event: WatchEvent) -> None:
        if isinstance(event.object, Pod):
            w.trace.append((clock.now(), event.type, event.object))

    store.add_listener(record)
    for k in kubelets:
        k.start()
    scheduler.start()
    sts.start()
    ds.start()
    jobs.start()
    cronjobs.start()
    gc.start()
    await clock.settle()
    try:
        yield w
    finally:
        await sts.stop()
        await ds.stop()
        await cronjobs.stop()
        await jobs.stop()
        await gc.stop()
        await scheduler.stop()
        for k in kubelets:
            await k.stop()
        await runtime.shutdown()


def template(name: str, version: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": name}, "annotations": {"version": version, **(annotations or {})}},
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
    }


def statefulset(name: str = "web", replicas: int = 3, version: str = "v1", **spec: Any) -> dict[str, Any]:
    annotations = spec.pop("annotations", None)
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            **spec,
            "template": template(name, version, annotations),
        },
    }


def daemonset(name: str = "agent", version: str = "v1", **spec: Any) -> dict[str, Any]:
    annotations = spec.pop("annotations", None)
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            **spec,
            "template": template(name, version, annotations),
        },
    }


def set_version(version: str) -> Callable[[Any], None]:
    def mutate(obj: Any) -> None:
        obj.spec.template.metadata.annotations = {
            **(obj.spec.template.metadata.annotations or {}),
            "version": version,
        }

    return mutate
