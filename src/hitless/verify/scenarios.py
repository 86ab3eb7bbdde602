"""Scenarios: what ``hitless verify`` does to the workload while the load runs.

Each drives the engine the way ``kubectl`` would (rollout restart, delete, scale, drain) or the
app would (a liveness endpoint that starts failing) and waits, on store state, until the
workload is settled again: every wanted pod Ready, none terminating.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from hitless.api.types.apps import Deployment
from hitless.api.types.node import Node
from hitless.api.types.pod import Container, Pod
from hitless.api.types.statefulset import StatefulSet
from hitless.engine import Engine
from hitless.store.eviction import EvictionRefused
from hitless.store.store import NotFound
from hitless.verify import workloads

SCENARIOS = ("rollout", "delete-pod", "scale-down", "liveness-restart", "node-drain")
# Scenarios that need a controller to bring the pods back.
NEEDS_DEPLOYMENT = {"rollout", "scale-down", "node-drain"}
# kubectl drain's pause before it retries an eviction a PodDisruptionBudget refused (drain.go).
DRAIN_RETRY_S = 5.0
# The demo app's run-time override of its liveness endpoint (docs/demo-app.md).
LIVENESS_FAIL = "/control/healthz?state=fail"


class ScenarioTimeout(Exception):
    pass


@dataclass
class Workload:
    namespace: str
    # The Deployment that owns the Service's pods, or None for bare Pods.
    deployment: str | None
    selects: Callable[[Pod], bool]
    # What ``deployment`` names: a Deployment, StatefulSet or DaemonSet (verify/workloads.py).
    kind: str = "Deployment"


def desired(engine: Engine, workload: Workload) -> int:
    if workload.deployment is None:
        return len([p for p in engine.store.pods() if workload.selects(p)])
    if workload.kind != "Deployment":
        return workloads.desired(engine, workload.kind, workload.namespace, workload.deployment) or 0
    dep = engine.store.get("Deployment", workload.namespace, workload.deployment)
    replicas = dep.spec.replicas if isinstance(dep, Deployment) else None
    return 1 if replicas is None else replicas


def settled(engine: Engine, workload: Workload, want: int, terminating_ok: bool = False) -> bool:
    """Every wanted pod Ready and, unless ``terminating_ok`` (what ``kubectl rollout status``
    waits for), no pod of the workload still terminating."""
    pods = [p for p in engine.store.pods() if workload.selects(p)]
    live = [p for p in pods if p.metadata.deletion_timestamp is None]
    if len(live) != want or not all(p.is_ready() for p in live):
        return False
    if len(pods) != want and not terminating_ok:
        return False
    if workload.deployment is None:
        return True
    if workload.kind != "Deployment":
        return bool(workloads.rolled_out(engine, workload.kind, workload.namespace, workload.deployment))
    dep = engine.store.get("Deployment", workload.namespace, workload.deployment)
    if not isinstance(dep, Deployment) or dep.status is None:
        return False
    st = dep.status
    return (
        (st.updated_replicas or 0) == want
        and (st.available_replicas or 0) == want
        and (st.observed_generation or 0) >= (dep.metadata.generation or 0)
    )


def unsettled(engine: Engine, workload: Workload, want: int) -> str:
    """What the workload is waiting for, in ``kubectl get pods`` words: '1 of 3 pods Ready;
    web-7d9c-abcde: CrashLoopBackOff'."""
    pods = [p for p in engine.store.pods() if workload.selects(p)]
    live = [p for p in pods if p.metadata.deletion_timestamp is None]
    ready = [p for p in live if p.is_ready()]
    parts = [f"{len(ready)} of {want} pods Ready"]
    if len(pods) > len(live):
        parts[0] += f", {len(pods) - len(live)} terminating"
    for pod in [p for p in live if not p.is_ready()][:3]:
        parts.append(f"{pod.name}: {_status_word(pod)}")
    return "; ".join(parts)


def _status_word(pod: Pod) -> str:
    """The STATUS column of ``kubectl get pods``, roughly: a waiting reason, else the phase."""
    for status in pod.status.container_statuses or []:
        waiting = status.state.waiting if status.state else None
        if waiting is not None and waiting.reason:
            return waiting.reason
    if not pod.spec.node_name:
        # The scheduler's FitError says why (a cordoned node, a volume pinned to a drained node).
        why = next(
            (c.message for c in pod.status.conditions or [] if c.type == "PodScheduled" and c.message),
            None,
        )
        return f"Pending (not scheduled: {why})" if why else "Pending (not scheduled)"
    phase = pod.status.phase or "Pending"
    return f"{phase}, not Ready" if phase == "Running" else phase


async def wait_settled(
    engine: Engine,
    workload: Workload,
    timeout: float,
    terminating_ok: bool = False,
    note: Callable[[str], None] | None = None,
    note_every: float = 10.0,
) -> None:
    """Wait until :func:`settled`; ``note`` hears what is still awaited every ``note_every`` s."""
    start = engine.clock.now()
    deadline, next_note = start + timeout, start + note_every
    want = desired(engine, workload)
    while not settled(engine, workload, want, terminating_ok):
        now = engine.clock.now()
        if now > deadline:
            raise ScenarioTimeout(
                f"the workload did not settle within {timeout:.0f} s: {unsettled(engine, workload, want)}"
            )
        if note is not None and now >= next_note:
            note(f"still waiting ({now - start:.0f} s): {unsettled(engine, workload, want)}")
            next_note = now + note_every
        await engine.clock.sleep(0.05)


async def run_once(
    engine: Engine,
    workload: Workload,
    scenario: str,
    timeout: float,
    last: bool = True,
    note: Callable[[str], None] | None = None,
) -> str:
    """Run the scenario once and wait until the workload has settled; return what was done.

    Before the last round the old pods may still be terminating (``kubectl rollout status``
    would return): they finish under the load of the next round, which saves their whole
    shutdown time per round. After the last one, the wait includes them."""
    ns = workload.namespace
    if scenario == "rollout":
        if workload.deployment is None:
            raise ValueError("the rollout scenario needs a Deployment behind the Service")
        engine.rollout_restart_workload(workload.kind, ns, workload.deployment)
        # Let the controller see the new template before judging "settled".
        await asyncio.sleep(0.1)
        what = f"rollout restart {workload.kind.lower()}/{workload.deployment}"
    elif scenario == "delete-pod":
        pods = sorted(
            (p for p in engine.store.pods() if workload.selects(p) and p.metadata.deletion_timestamp is None),
            key=lambda p: p.metadata.creation_timestamp.timestamp() if p.metadata.creation_timestamp else 0.0,
        )
        if not pods:
            raise ValueError("no pod to delete")
        with contextlib.suppress(NotFound):
            engine.store.delete("Pod", ns, pods[0].name)
        await asyncio.sleep(0.1)
        what = f"delete pod/{pods[0].name}"
    elif scenario == "scale-down":
        if workload.deployment is None or workload.kind == "DaemonSet":
            raise ValueError("the scale-down scenario needs a Deployment or StatefulSet behind the Service")
        want = desired(engine, workload)
        if want < 2:
            raise ValueError("scale-down needs at least 2 replicas")
        _scale(engine, workload, want - 1)
        await asyncio.sleep(0.1)
        await wait_settled(engine, workload, timeout, note=note)
        _scale(engine, workload, want)
        await asyncio.sleep(0.1)
        what = f"scale {workload.kind.lower()}/{workload.deployment} {want} → {want - 1} → {want}"
    elif scenario == "liveness-restart":
        what = await _liveness_restart(engine, workload, timeout)
    elif scenario == "node-drain":
        return await _drain(engine, workload, timeout, last, note)
    else:
        raise ValueError(f"unknown scenario {scenario!r}")
    await wait_settled(engine, workload, timeout, terminating_ok=not last, note=note)
    return what


def _live(engine: Engine, workload: Workload) -> list[Pod]:
    return sorted(
        (p for p in engine.store.pods() if workload.selects(p) and p.metadata.deletion_timestamp is None),
        key=lambda p: (
            p.metadata.creation_timestamp.timestamp() if p.metadata.creation_timestamp else 0.0,
            p.name,
        ),
    )


def liveness_target(container: Container) -> int | None:
    """The port of a container's httpGet liveness probe, which the demo app's /control serves."""
    probe = container.liveness_probe
    if probe is None or probe.http_get is None:
        return None
    port = probe.http_get.port
    if isinstance(port, int):
        return port
    for declared in container.ports or []:
        if declared.name == port:
            return declared.container_port
    return int(port) if str(port).isdigit() else None


async def _liveness_restart(engine: Engine, workload: Workload, timeout: float) -> str:
    """Make one pod's liveness endpoint fail (the demo app's /control), as a hung app would, and
    wait until the kubelet has restarted the container and the pod is Ready again."""
    pods = [p for p in _live(engine, workload) if p.is_ready()]
    if not pods:
        raise ValueError("no Ready pod to make unhealthy")
    pod = pods[0]
    targets = [(c.name, liveness_target(c)) for c in pod.spec.containers]
    name, port = next(((n, p) for n, p in targets if p is not None), (None, None))
    if name is None or port is None or not pod.status.pod_ip:
        raise ValueError("liveness-restart needs a container with an httpGet livenessProbe")
    before = _restarts(pod, name)
    reader, writer = await engine.network.open_connection(pod.status.pod_ip, port, timeout=2.0)
    try:
        writer.write(
            f"POST {LIVENESS_FAIL} HTTP/1.1\r\nHost: {pod.status.pod_ip}:{port}\r\n"
            "Content-Length: 0\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        status = (await asyncio.wait_for(reader.readline(), 2.0)).split(b" ")[1:2]
    finally:
        writer.close()
    if status != [b"200"]:
        raise ValueError(
            f"POST {LIVENESS_FAIL} to {pod.name} answered {status or 'nothing'}: liveness-restart "
            "needs an app with hitless demo-app's /control endpoints"
        )
    deadline = engine.clock.now() + timeout
    while True:
        current = engine.store.get_typed(Pod, "Pod", pod.namespace, pod.name)
        if current is None or current.metadata.uid != pod.metadata.uid:
            break  # replaced meanwhile: settled() judges the rest
        if _restarts(current, name) > before and current.is_ready():
            break
        if engine.clock.now() > deadline:
            raise ScenarioTimeout(f"{pod.name} was not restarted and Ready within {timeout:.0f} s")
        await asyncio.sleep(0.05)
    return f"liveness failure of pod/{pod.name} (container {name}): restarted"


def _restarts(pod: Pod, container: str) -> int:
    return next((s.restart_count for s in pod.status.container_statuses or [] if s.name == container), 0)


async def _drain(
    engine: Engine, workload: Workload, timeout: float, last: bool, note: Callable[[str], None] | None
) -> str:
    """``kubectl drain``: cordon the node that runs most of the workload's pods, evict every pod
    on it through the Eviction API (graceful deletion, each with its own grace period; a pod a
    PodDisruptionBudget protects is retried every 5 s, as kubectl does), wait until the workload
    is settled elsewhere, then ``kubectl uncordon`` it for the next round."""
    counts: dict[str, int] = {}
    for p in _live(engine, workload):
        if p.spec.node_name:
            counts[p.spec.node_name] = counts.get(p.spec.node_name, 0) + 1
    if not counts:
        raise ValueError("no scheduled pod to drain a node of")
    if len(engine.store.objects("Node")) < 2:
        raise ValueError("node-drain needs at least 2 nodes (--nodes)")
    if workload.kind == "DaemonSet":
        # kubectl drain refuses DaemonSet pods, and --ignore-daemonsets leaves them running.
        raise ValueError("node-drain does not evict DaemonSet pods (kubectl drain --ignore-daemonsets)")
    node = max(sorted(counts), key=lambda n: counts[n])
    _cordon(engine, node, True)
    try:
        pods = engine.store.pods(lambda p: p.spec.node_name == node and not _daemon_pod(p))
        retries = await evict_pods(engine, pods, timeout, note)
        await asyncio.sleep(0.1)
        await wait_settled(engine, workload, timeout, terminating_ok=not last, note=note)
    finally:
        _cordon(engine, node, False)
    held = f"; {retries} eviction(s) refused by a PodDisruptionBudget and retried" if retries else ""
    return f"drain node/{node} ({counts[node]} pods evicted{held}), uncordon"


class DrainBlocked(ScenarioTimeout):
    """A drain that a PodDisruptionBudget held until the scenario's timeout."""


async def evict_pods(
    engine: Engine, pods: list[Pod], timeout: float, note: Callable[[str], None] | None = None
) -> int:
    """kubectl's drain.Helper.evictPods: every pod evicted at once, each retried 5 s after a 429
    until it is evicted or gone, all within ``timeout`` (drain's --timeout). Returns how many
    evictions were refused and retried; DrainBlocked when the timeout ends it."""
    deadline = engine.clock.now() + timeout
    retries = 0

    async def one(pod: Pod) -> None:
        nonlocal retries
        while True:
            try:
                engine.evict(pod.namespace, pod.name)
            except NotFound:
                break
            except EvictionRefused as exc:
                if exc.code != 429:
                    raise ScenarioTimeout(
                        f'error when evicting pods/"{pod.name}" -n "{pod.namespace}": {exc.message}'
                    ) from exc
                retries += 1
                if note is not None:
                    note(
                        f'error when evicting pods/"{pod.name}" -n "{pod.namespace}" (will retry after '
                        f"{DRAIN_RETRY_S:.0f}s): {exc.message}"
                    )
                if engine.clock.now() + DRAIN_RETRY_S > deadline:
                    raise DrainBlocked(
                        f'drain blocked by PodDisruptionBudget "{exc.budget}" for {timeout:.0f} s: '
                        f'pods/"{pod.name}" -n "{pod.namespace}": {exc.message} {exc.cause}'
                    ) from exc
                await engine.clock.sleep(DRAIN_RETRY_S)
                continue
            break

    try:
        # Structured: the first refusal that ends the drain cancels the other evictions.
        async with asyncio.TaskGroup() as group:
            for p in pods:
                group.create_task(one(p))
    except* ScenarioTimeout as failed:
        raise failed.exceptions[0] from None
    return retries


def _cordon(engine: Engine, name: str, unschedulable: bool) -> None:
    node = next((n for n in engine.store.objects("Node") if isinstance(n, Node) and n.name == name), None)
    if node is None:
        raise ValueError(f"no node {name}")
    updated = node.copy_deep()
    updated.spec.unschedulable = True if unschedulable else None
    engine.store.update(updated)


def _daemon_pod(pod: Pod) -> bool:
    """kubectl drain --ignore-daemonsets: a DaemonSet's pods stay (they tolerate the cordon)."""
    return any(r.controller and r.kind == "DaemonSet" for r in pod.metadata.owner_references or [])


def _scale(engine: Engine, workload: Workload, replicas: int) -> None:
    """``kubectl scale KIND/NAME --replicas=N`` for a Deployment or a StatefulSet."""
    assert workload.deployment is not None
    if workload.kind == "Deployment":
        engine.scale(workload.namespace, workload.deployment, replicas)
        return
    current = engine.store.get_typed(StatefulSet, "StatefulSet", workload.namespace, workload.deployment)
    if current is None:
        raise NotFound(f'statefulsets.apps "{workload.deployment}" not found')
    updated = current.copy_deep()
    updated.spec.replicas = replicas
    engine.store.update(updated)
