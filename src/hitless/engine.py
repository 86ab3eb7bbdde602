"""The engine: one store, a scheduler and a kubelet per emulated node, over one runtime.

This is the cluster in miniature that ``hitless up`` (and later ``hitless verify``) runs. It
wires components together and owns the run's lifecycle; the components themselves only talk
through the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from hitless.api.types.meta import K8sObject
from hitless.api.types.pod import Pod
from hitless.clock import Clock
from hitless.controllers.scheduler import Scheduler
from hitless.kubelet.images import ImageService
from hitless.kubelet.kubelet import Kubelet
from hitless.runtime.cri import RuntimeService
from hitless.runtime.network import PodNetwork
from hitless.store.store import NotFound, Store


def tune_gc() -> None:
    """Keep the collector's pauses out of probe timing; call once, after start-up.

    Everything imported so far (pydantic's schemas, the OpenAPI schemas, the modules) is moved
    out of the collector's sight, and the young generation is collected less often: the engine
    makes little cyclic garbage, but many short-lived objects, and each collection of a large old
    generation stalls the event loop for tens of milliseconds (measured: bench/bench_probes.py).
    """
    gc.freeze()
    gc.set_threshold(10_000, 50, 100)


def node_address(index: int) -> str:
    """Node N (1-based) lives at 127.0.1.N."""
    return f"127.0.1.{index}"


@dataclass
class EngineOptions:
    nodes: int = 1
    log_dir: Path = field(default_factory=lambda: Path("/tmp/hitless-logs"))
    images: ImageService = field(default_factory=ImageService)
    # Jitter of the kubelet's 10 s sync retry; None keeps the kubelet's 0.5.
    retry_jitter: float | None = None
    seed: int | None = None


class Engine:
    def __init__(self, runtime: RuntimeService, clock: Clock, options: EngineOptions | None = None) -> None:
        self.options = options or EngineOptions()
        self.clock = clock
        self.runtime = runtime
        self.store = Store(clock)
        self.network = PodNetwork(runtime)
        self.scheduler = Scheduler(self.store, clock)
        rng = random.Random(self.options.seed)
        self.kubelets = [
            Kubelet(
                f"node-{i}",
                node_address(i),
                clock,
                self.store,
                runtime,
                self.network,
                self.options.images,
                self.options.log_dir,
                rng=random.Random(rng.random()),
                retry_jitter=self.options.retry_jitter,
            )
            for i in range(1, self.options.nodes + 1)
        ]

    async def start(self) -> None:
        for kubelet in self.kubelets:
            kubelet.start()
        self.scheduler.start()
        await asyncio.sleep(0)

    def apply(self, objects: Iterable[K8sObject]) -> list[K8sObject]:
        return [self.store.create(obj) for obj in objects]

    def pods(self) -> list[Pod]:
        return self.store.pods()

    def all_pods_finished(self) -> bool:
        pods = self.store.pods()
        return bool(pods) and all(p.status.phase in ("Succeeded", "Failed") for p in pods)

    async def delete_all_pods(self, grace_period_seconds: int | None = None) -> None:
        """Delete every pod gracefully, each by its own spec, and wait until all are gone."""
        for pod in self.store.pods():
            with contextlib.suppress(NotFound):
                self.store.delete("Pod", pod.namespace, pod.name, grace_period_seconds)
        await self.wait_idle()

    async def wait_idle(self) -> None:
        await asyncio.gather(*(k.wait_idle() for k in self.kubelets))

    def kill_now(self) -> None:
        for kubelet in self.kubelets:
            kubelet.kill_now()

    async def stop(self) -> None:
        await self.scheduler.stop()
        for kubelet in self.kubelets:
            await kubelet.stop()
        await self.runtime.shutdown()
