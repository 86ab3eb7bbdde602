"""`hitless up`'s text output words a rollout's progress as `kubectl rollout status` does."""

from __future__ import annotations

import io
import itertools
import re

from hitless.output.text import TextPrinter

from .conftest import NEVER_READY, Cluster, deployment, set_version


def messages(out: io.StringIO) -> list[str]:
    return [m.group(1) for m in re.finditer(r"deployment/web: (.*)", out.getvalue())]


async def test_a_rolling_update_reads_as_kubectl_rollout_status(cluster: Cluster) -> None:
    c = cluster
    out = io.StringIO()
    c.store.add_listener(TextPrinter(c.clock, out, show_events=False))
    c.apply(
        deployment(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}})
    )
    await c.until(c.complete)
    c.update(mutate=set_version("v2"))
    await c.until(c.complete)
    seen = messages(out)
    assert seen[-1] == 'deployment "web" successfully rolled out'
    # Each message is printed once per change, and the rollout passes through kubectl's stages in order.
    assert all(a != b for a, b in itertools.pairwise(seen))
    rollout = seen[seen.index("Waiting for deployment spec update to be observed...", 1) :]
    stages = [
        'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...',
        'Waiting for deployment "web" rollout to finish: 2 out of 3 new replicas have been updated...',
        'Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...',
        'deployment "web" successfully rolled out',
    ]
    positions = [rollout.index(s) for s in stages]
    assert positions == sorted(positions), rollout


async def test_a_rollout_past_its_deadline_reads_as_kubectl_s_error(cluster: Cluster) -> None:
    c = cluster
    out = io.StringIO()
    c.store.add_listener(TextPrinter(c.clock, out, show_events=False))
    c.apply(deployment(progressDeadlineSeconds=10))
    await c.until(c.complete)
    c.update(mutate=set_version("v2", **{NEVER_READY: "true"}))
    await c.run(20)
    assert messages(out)[-1] == 'error: deployment "web" exceeded its progress deadline'
