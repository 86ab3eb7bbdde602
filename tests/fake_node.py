"""The kubelet of a fake-clock test: node-1 over a scripted runtime, with a prober chosen by the test."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from hitless.clock import FakeClock
from hitless.kubelet.images import ImageService
from hitless.kubelet.kubelet import Kubelet
from hitless.runtime.cri import RuntimeService
from hitless.runtime.network import PodNetwork
from hitless.store.store import Store


def fake_kubelet(
    clock: FakeClock,
    store: Store,
    runtime: RuntimeService,
    log_dir: Path,
    prober: Any,
    images: ImageService | None = None,
) -> Kubelet:
    """Seeded and without the sync retry's jitter, so that a run is the same every time; every
    probe of every pod goes to ``prober``."""
    return Kubelet(
        "node-1",
        "127.0.1.1",
        clock,
        store,
        runtime,
        PodNetwork(runtime),
        images or ImageService(),
        log_dir,
        rng=random.Random(0),
        retry_jitter=0.0,
        probers=lambda probe: prober,
    )
