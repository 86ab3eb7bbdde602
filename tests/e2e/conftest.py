"""End-to-end fixtures: the engine over real processes, real namespaces and real signals."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hitless.api import load_text
from hitless.api.types.pod import Pod
from hitless.clock import RealClock
from hitless.engine import Engine, EngineOptions
from hitless.runtime.linux import LinuxRuntime
from hitless.runtime.linux.procfs import has_cap_sys_admin

CAPABLE = sys.platform.startswith("linux") and has_cap_sys_admin()


@pytest.fixture(autouse=True)
def _needs_namespaces() -> None:
    if not CAPABLE:
        pytest.skip("the end-to-end tests need root (CAP_SYS_ADMIN to create namespaces)")


@dataclass
class Cluster:
    engine: Engine
    clock: RealClock
    log_dir: Path

    def apply(self, manifest: str) -> list[Pod]:
        result = load_text(manifest, "test.yaml")
        assert not result.errors, [e.format() for e in result.errors]
        created = self.engine.apply(o.obj for o in result.objects)
        return [p for p in created if isinstance(p, Pod)]

    def pod(self, name: str) -> Pod | None:
        pod = self.engine.store.get("Pod", "default", name)
        return pod if isinstance(pod, Pod) else None

    async def wait_pod(self, name: str, predicate: Callable[[Pod], bool], timeout: float = 20.0) -> Pod:
        deadline = self.clock.now() + timeout
        while True:
            pod = self.pod(name)
            if pod is not None and predicate(pod):
                return pod
            if self.clock.now() > deadline:
                raise AssertionError(
                    f"pod {name} did not reach the state in {timeout}s: {pod and pod.status}"
                )
            await asyncio.sleep(0.02)

    async def wait_gone(self, name: str, timeout: float = 30.0) -> None:
        deadline = self.clock.now() + timeout
        while self.pod(name) is not None:
            if self.clock.now() > deadline:
                raise AssertionError(f"pod {name} still exists after {timeout}s")
            await asyncio.sleep(0.02)

    def logs(self, pod: str, container: str, attempt: int = 0) -> list[str]:
        matches = list(self.log_dir.glob(f"default_{pod}_*/{container}/{attempt}.log"))
        if not matches:
            return []
        return [line.split(" ", 3)[3] for line in matches[0].read_text().splitlines()]

    def events(self, pod: str) -> list[dict[str, Any]]:
        out = [e.to_json() for e in self.engine.store.objects("Event")]
        return [e for e in out if e["involvedObject"]["name"] == pod]


def running(pod: Pod) -> bool:
    return pod.status.phase == "Running" and pod.is_ready()


@asynccontextmanager
async def cluster_of(tmp_path: Path, **options: Any) -> AsyncIterator[Cluster]:
    """An engine over real processes with these EngineOptions, killed and stopped at the end."""
    clock = RealClock()
    log_dir = tmp_path / "logs"
    engine = Engine(LinuxRuntime(clock), clock, EngineOptions(log_dir=log_dir, **options))
    await engine.start()
    try:
        yield Cluster(engine, clock, log_dir)
    finally:
        engine.kill_now()
        await asyncio.wait_for(engine.wait_idle(), 20)
        await engine.stop()


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    async with cluster_of(tmp_path, nodes=1) as c:
        yield c
