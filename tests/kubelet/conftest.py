from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hitless.api.types.pod import ContainerStatus, Pod, Probe
from hitless.clock import FakeClock
from hitless.kubelet.images import ImageService
from hitless.kubelet.kubelet import Kubelet
from hitless.kubelet.prober.manager import KillDecision, ProbeManager
from hitless.kubelet.prober.probers.base import ProbeOutcome, ProbeTarget
from hitless.kubelet.prober.results import Result
from hitless.runtime import cri
from hitless.runtime.fake import FakeProgram, FakeRuntime
from hitless.store.store import Store, WatchEvent
from tests.fake_node import fake_kubelet


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


def state_of(status: ContainerStatus) -> str:
    """running, terminated:<reason>, or waiting:<reason>."""
    st = status.state
    if st.running is not None:
        return "running"
    if st.terminated is not None:
        return f"terminated:{st.terminated.reason}"
    return f"waiting:{st.waiting.reason if st.waiting else None}"


class FakeProbes(ProbeManager):
    """Probe results set by the test: containers that are not started, or failed liveness."""

    def __init__(self) -> None:
        super().__init__()
        self.failed: dict[str, str] = {}  # container name -> LivenessProbe / StartupProbe
        self.not_started: set[str] = set()

    def container_started(self, pod: Pod, container: str, container_id: str, running: bool) -> bool:
        return running and container not in self.not_started

    def kill_decision(self, pod: Pod, container: str, container_id: str) -> KillDecision | None:
        reason = self.failed.get(container)
        return KillDecision(reason) if reason else None


ProbeScript = Callable[[float], "ProbeOutcome | tuple[ProbeOutcome, float]"]


class FakeProber:
    """Probe outcomes scripted per (container, kind) as a function of the clock; calls recorded.

    A script may return ``(outcome, seconds)`` for a probe that takes that long. Unscripted
    probes succeed.
    """

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self.scripts: dict[tuple[str, str], ProbeScript] = {}
        self.calls: list[tuple[float, str, str]] = []

    def script(self, container: str, kind: str, fn: ProbeScript) -> None:
        self.scripts[(container, kind)] = fn

    def times(self, container: str, kind: str) -> list[float]:
        return [t for t, c, k in self.calls if c == container and k == kind]

    async def probe(self, probe: Probe, target: ProbeTarget, timeout: float) -> ProbeOutcome:
        c = target.container
        kind = (
            "Liveness"
            if probe is c.liveness_probe
            else "Readiness"
            if probe is c.readiness_probe
            else "Startup"
        )
        now = self._clock.now()
        self.calls.append((now, c.name, kind))
        fn = self.scripts.get((c.name, kind))
        got = fn(now) if fn else ProbeOutcome(Result.SUCCESS)
        if isinstance(got, tuple):
            outcome, seconds = got
            await self._clock.sleep(min(seconds, timeout))
            if seconds >= timeout:
                return ProbeOutcome(Result.FAILURE, "timed out")
            return outcome
        return got


def ok() -> ProbeOutcome:
    return ProbeOutcome(Result.SUCCESS)


def fail(output: str = "HTTP probe failed with statuscode: 503") -> ProbeOutcome:
    return ProbeOutcome(Result.FAILURE, output)


@dataclass
class Env:
    clock: FakeClock
    store: Store
    runtime: FakeRuntime
    kubelet: Kubelet
    prober: FakeProber
    # Every Pod version the store saw: (time, event type, object).
    history: list[tuple[float, str, Pod]] = field(default_factory=list)

    def pod(self, name: str = "web") -> Pod:
        pod = self.store.get("Pod", "default", name)
        assert isinstance(pod, Pod)
        return pod

    def status(self, name: str = "web", container: int = 0) -> ContainerStatus:
        statuses = self.pod(name).status.container_statuses
        assert statuses
        return statuses[container]

    def events(self, reason: str | None = None) -> list[tuple[str, str]]:
        out = []
        for e in self.store.objects("Event"):
            data = e.to_json()
            if reason is None or data["reason"] == reason:
                out.append((data["reason"], data["message"]))
        return out

    def states(self, name: str = "web", container: int = 0) -> list[str]:
        """The container's successive states as published, without repeats."""
        seen: list[str] = []
        for _, _, pod in self.history:
            statuses = pod.status.container_statuses
            if pod.name == name and statuses:
                state = state_of(statuses[container])
                if not seen or seen[-1] != state:
                    seen.append(state)
        return seen

    def signals(self, container: str = "app") -> list[tuple[float, object]]:
        return [(e.time, e.detail) for e in self.runtime.events(container, "signal")]

    def starts(self, container: str = "app") -> list[float]:
        return [e.time for e in self.runtime.events(container, "start")]

    def exits(self, container: str = "app") -> list[float]:
        return [e.time for e in self.runtime.events(container, "exit")]

    def use_probes(self) -> FakeProbes:
        probes = FakeProbes()
        self.kubelet.probes = probes
        self.kubelet.context.probes = probes
        return probes


@pytest.fixture
def programs() -> dict[str, Callable[[cri.ContainerConfig], FakeProgram]]:
    return {}


@pytest.fixture
def seen(programs: dict) -> list[cri.ContainerConfig]:
    """Every ContainerConfig the kubelet created a container with."""
    configs: list[cri.ContainerConfig] = []

    def program(config: cri.ContainerConfig) -> FakeProgram:
        configs.append(config)
        return FakeProgram()

    programs["app"] = program
    return configs


@pytest.fixture
def images() -> ImageService:
    """The kubelet's images: host mappings only (a test module may give it an image store)."""
    return ImageService()


@pytest.fixture
async def env(
    tmp_path: Path, programs: dict[str, Callable[[cri.ContainerConfig], FakeProgram]], images: ImageService
) -> AsyncIterator[Env]:
    clock = FakeClock()
    store = Store(clock)

    def choose(config: cri.ContainerConfig) -> FakeProgram:
        fn = programs.get(config.name)
        return fn(config) if fn else FakeProgram()

    runtime = FakeRuntime(clock, choose)
    prober = FakeProber(clock)
    kubelet = fake_kubelet(clock, store, runtime, tmp_path, prober, images)
    env = Env(clock, store, runtime, kubelet, prober)

    def record(event: WatchEvent) -> None:
        if isinstance(event.object, Pod):
            env.history.append((clock.now(), event.type, event.object))

    store.add_listener(record)
    kubelet.start()
    await clock.settle()
    yield env
    await kubelet.stop()
    await runtime.shutdown()
