"""``kubectl drain`` through the API for cluster mode's node-drain (verify/cluster_scenarios.py):
cordon, the Eviction API retried every 5 s while a PodDisruptionBudget answers 429, uncordon
always (kubectl/pkg/drain: cordon.go, drain.go evictPods; verify/scenarios.py's _drain)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from hitless.clock import Clock
from hitless.kube.client import JSON, ApiError, KubeClient
from hitless.verify.cluster_scene import DAEMONSET, Incomplete, Scene, wait_settled
from hitless.verify.cluster_steps import PreflightError, path
from hitless.verify.scenarios import DRAIN_RETRY_S


class DrainBlocked(Incomplete):
    """A drain that a PodDisruptionBudget held until the timeout (scenarios.DrainBlocked)."""


async def preflight(client: KubeClient, scenario: str) -> None:
    """What the scenario needs of the cluster itself, before anything is created."""
    if scenario != "node-drain":
        return
    try:
        nodes = await client.request("GET", "/api/v1/nodes")
    except ApiError as exc:
        raise PreflightError(f"node-drain: listing nodes: {exc}") from exc
    schedulable = [n["metadata"]["name"] for n in nodes.get("items") or [] if schedulable_node(n)]
    if len(schedulable) < 2:
        raise PreflightError(
            "--scenario node-drain needs at least 2 schedulable nodes (the drained node's pods "
            f"must go somewhere); this cluster has {len(schedulable)}"
            + (f" ({', '.join(schedulable)})" if schedulable else "")
        )


def schedulable_node(node: JSON) -> bool:
    if node.get("spec", {}).get("unschedulable"):
        return False
    conditions = node.get("status", {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions) or not conditions


async def _cordon(scene: Scene, node: str, unschedulable: bool) -> None:
    """``kubectl cordon`` / ``uncordon``: the strategic merge patch kubectl's CordonHelper makes
    (kubectl/pkg/drain/cordon.go; false is omitted from the Node's JSON, hence null)."""
    await scene.client.request(
        "PATCH",
        f"/api/v1/nodes/{node}",
        body={"spec": {"unschedulable": True if unschedulable else None}},
        content_type="application/strategic-merge-patch+json",
    )


async def node_drain(scene: Scene, last: bool) -> str:
    """``kubectl drain --ignore-daemonsets`` of the node that runs most of the workload's pods,
    limited to the run's namespace (the run may evict only its own pods), then uncordon, also
    when the round fails or is interrupted (scenarios._drain)."""
    if scene.kind == DAEMONSET:
        raise Incomplete("node-drain does not evict DaemonSet pods (kubectl drain --ignore-daemonsets)")
    counts: dict[str, int] = {}
    for p in scene.live():
        node = p.get("spec", {}).get("nodeName")
        if node:
            counts[node] = counts.get(node, 0) + 1
    if not counts:
        raise Incomplete("no scheduled pod to drain a node of")
    node = max(sorted(counts), key=lambda n: counts[n])
    try:
        try:
            await _cordon(scene, node, True)
        except ApiError as exc:
            raise Incomplete(f"cordon node/{node}: {exc}") from exc
        listed = await scene.client.request(
            "GET", path("Pod", scene.namespace), query={"fieldSelector": f"spec.nodeName={node}"}
        )
        names = [p["metadata"]["name"] for p in listed.get("items") or [] if not _left(p)]
        retries = await evict_pods(
            scene.client, scene.clock, scene.namespace, names, scene.timeout, scene.note
        )
        await wait_settled(scene, terminating_ok=not last)
    finally:
        # Always, shielded: a failed or interrupted round (Ctrl-C) still hands the node back.
        await asyncio.shield(_uncordon(scene, node))
    held = f"; {retries} eviction(s) refused by a PodDisruptionBudget and retried" if retries else ""
    return f"drain node/{node} ({len(names)} pods evicted{held}), uncordon"


def _left(pod: JSON) -> bool:
    """Pods the drain leaves: a DaemonSet's (kubectl drain --ignore-daemonsets) and the run's own
    (labelled managed-by hitless: the in-cluster load agent is the measuring instrument)."""
    meta = pod.get("metadata", {})
    if (meta.get("labels") or {}).get("app.kubernetes.io/managed-by") == "hitless":
        return True
    return any(r.get("controller") and r.get("kind") == DAEMONSET for r in meta.get("ownerReferences") or [])


async def _uncordon(scene: Scene, node: str) -> None:
    try:
        await _cordon(scene, node, False)
    except (ApiError, OSError, TimeoutError) as exc:
        scene.note(f"could not uncordon node {node}: {exc}; kubectl uncordon {node}")


def _budget(exc: ApiError) -> tuple[str, str]:
    """The budget and its cause from a 429's details (eviction.go: "The disruption budget NAME
    needs N healthy pods and has M currently")."""
    causes: list[dict[str, Any]] = exc.details.get("causes") or []
    cause = next((c.get("message", "") for c in causes if c.get("reason") == "DisruptionBudget"), "")
    words = cause.split()
    budget = words[3] if cause.startswith("The disruption budget ") and len(words) > 3 else ""
    return budget, cause


async def evict_pods(
    client: KubeClient,
    clock: Clock,
    namespace: str,
    names: list[str],
    timeout: float,
    note: Callable[[str], None] | None = None,
) -> int:
    """kubectl's drain.Helper.evictPods over the API (scenarios.evict_pods): every pod evicted at
    once, each retried 5 s after a 429 until it is evicted or gone, all within ``timeout``.
    Returns how many evictions were refused and retried; DrainBlocked when the timeout ends it."""
    deadline = clock.now() + timeout
    retries = 0

    async def one(name: str) -> None:
        nonlocal retries
        body = {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": name, "namespace": namespace},
        }
        while True:
            try:
                await client.request("POST", path("Pod", namespace, name) + "/eviction", body=body)
            except ApiError as exc:
                if exc.code == 404:
                    return
                if exc.code != 429:
                    raise Incomplete(
                        f'error when evicting pods/"{name}" -n "{namespace}": {exc.message}'
                    ) from exc
                retries += 1
                budget, cause = _budget(exc)
                if note is not None:
                    note(
                        f'error when evicting pods/"{name}" -n "{namespace}" (will retry after '
                        f"{DRAIN_RETRY_S:.0f}s): {exc.message}"
                    )
                if clock.now() + DRAIN_RETRY_S > deadline:
                    raise DrainBlocked(
                        f'drain blocked by PodDisruptionBudget "{budget}" for {timeout:.0f} s: '
                        f'pods/"{name}" -n "{namespace}": {exc.message} {cause}'.rstrip()
                    ) from exc
                await clock.sleep(DRAIN_RETRY_S)
                continue
            return

    try:
        # Structured: the first refusal that ends the drain cancels the other evictions.
        async with asyncio.TaskGroup() as group:
            for name in names:
                group.create_task(one(name))
    except* Incomplete as failed:
        raise failed.exceptions[0] from None
    return retries
