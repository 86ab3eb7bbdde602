from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hitless.api.types.pod import Pod
from hitless.clock import FakeClock
from hitless.kubelet.images import ImageService
from hitless.kubelet.kubelet import Kubelet
from hitless.runtime import cri
from hitless.runtime.fake import FakeProgram, FakeRuntime
from hitless.runtime.network import PodNetwork
from hitless.store.store import Store


def make_pod(name: str = "web", containers: list[dict[str, Any]] | None = None, **spec: Any) -> Pod:
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "nodeName": "node-1",
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "containers": containers or [{"name": "app", "image": "busybox", "command": ["app"]}],
            **spec,
        },
    }
    return Pod.from_json(body)


@dataclass
class Env:
    clock: FakeClock
    store: Store
    runtime: FakeRuntime
    kubelet: Kubelet

    def pod(self, name: str = "web") -> Pod:
        pod = self.store.get("Pod", "default", name)
        assert isinstance(pod, Pod)
        return pod

    def events(self, reason: str | None = None) -> list[tuple[str, str]]:
        out = []
        for e in self.store.objects("Event"):
            data = e.to_json()
            if reason is None or data["reason"] == reason:
                out.append((data["reason"], data["message"]))
        return out


@pytest.fixture
def programs() -> dict[str, Callable[[cri.ContainerConfig], FakeProgram]]:
    return {}


@pytest.fixture
async def env(
    tmp_path: Path, programs: dict[str, Callable[[cri.ContainerConfig], FakeProgram]]
) -> AsyncIterator[Env]:
    clock = FakeClock()
    store = Store(clock)

    def choose(config: cri.ContainerConfig) -> FakeProgram:
        fn = programs.get(config.name)
        return fn(config) if fn else FakeProgram()

    runtime = FakeRuntime(clock, choose)
    kubelet = Kubelet(
        "node-1",
        "127.0.1.1",
        clock,
        store,
        runtime,
        PodNetwork(runtime),
        ImageService(),
        tmp_path,
        rng=random.Random(0),
        retry_jitter=0.0,
    )
    kubelet.start()
    await clock.settle()
    yield Env(clock, store, runtime, kubelet)
    await kubelet.stop()
    await runtime.shutdown()
