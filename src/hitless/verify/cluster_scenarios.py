"""The scenarios of ``hitless verify --kubeconfig`` (verify/cluster.py), through the Kubernetes API.

The same scenarios as on one machine (verify/scenarios.py, whose wait rules are the spec here),
each sent as kubectl sends it: ``kubectl rollout restart`` (the restartedAt patch, to a
Deployment, StatefulSet or DaemonSet), ``kubectl delete pod`` (default grace), ``kubectl scale``
(a merge patch on the ``scale`` subresource), a liveness endpoint made to fail through the API
server's pod proxy (``pods/NAME:PORT/proxy``, the one way into a pod from outside that needs no
port-forward), and ``kubectl drain`` (cordon, the Eviction API with its 5 s retry while a
PodDisruptionBudget says 429, uncordon). What each waits for is read from the run's watches
(cluster_steps.Watched), never by polling the API.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hitless.api.types.daemonset import DaemonSet
from hitless.api.types.pod import Pod
from hitless.api.types.statefulset import StatefulSet
from hitless.clock import Clock
from hitless.kube.client import JSON, ApiError, KubeClient
from hitless.output.workload_status import daemonset_status, statefulset_status
from hitless.verify.cluster_steps import (
    SETTLE_TIMEOUT,
    ClusterError,
    PreflightError,
    Watched,
    path,
    restart,
    rollout_done,
)
from hitless.verify.scenarios import DRAIN_RETRY_S, liveness_target

# The demo app's run-time override of its liveness endpoint (docs/demo-app.md), as a path and query.
LIVENESS_CONTROL = "/control/healthz"
# kubectl/pkg/drain/filters.go daemonSetFilter: a DaemonSet's pods are left (--ignore-daemonsets).
DAEMONSET = "DaemonSet"


class Incomplete(Exception):
    """A round that could not do or finish its scenario: the report says so (``incomplete``)."""


class DrainBlocked(Incomplete):
    """A drain that a PodDisruptionBudget held until the timeout (scenarios.DrainBlocked)."""


def refusal(scenario: str, kind: str, replicas: int | None, allow_node_drain: bool) -> str | None:
    """Why this scenario cannot run on this workload in cluster mode (exit 2, before anything
    is created), or None. ``replicas`` is what the manifest asks for (None: a DaemonSet)."""
    if kind not in ("Deployment", "StatefulSet", "DaemonSet"):
        return "cluster mode needs a Deployment, StatefulSet or DaemonSet behind the Service"
    if scenario == "node-drain" and not allow_node_drain:
        return (
            "--scenario node-drain cordons and drains a node of the cluster, which other workloads "
            "share: it runs only with --allow-node-drain"
        )
    if scenario == "node-drain" and kind == DAEMONSET:
        return "--scenario node-drain does not evict DaemonSet pods (kubectl drain --ignore-daemonsets)"
    if scenario == "scale-down" and kind == DAEMONSET:
        return "--scenario scale-down needs a Deployment or StatefulSet (a DaemonSet has no replicas)"
    if scenario == "scale-down" and (replicas if replicas is not None else 1) < 2:
        return "--scenario scale-down needs at least 2 replicas"
    return None


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


def rollout_status(kind: str, obj: JSON) -> tuple[bool, str]:
    """``kubectl rollout status``: kubectl's DeploymentStatusViewer, StatefulSetStatusViewer and
    DaemonSetStatusViewer (kubectl/pkg/polymorphichelpers/rollout_status.go; the latter two as
    ported in output/workload_status.py, read here from the watched JSON)."""
    if kind == "Deployment":
        return rollout_done(obj)
    try:
        if kind == "StatefulSet":
            message, done = statefulset_status(StatefulSet.model_validate(obj))
        else:
            message, done = daemonset_status(DaemonSet.model_validate(obj))
    except ValueError as exc:
        raise ClusterError(f"{kind} {obj.get('metadata', {}).get('name')}: unreadable: {exc}") from exc
    return done, message


@dataclass
class Scene:
    """What a round acts on and sees."""

    client: KubeClient
    watched: Watched
    clock: Clock
    namespace: str
    kind: str
    name: str
    timeout: float = SETTLE_TIMEOUT
    note: Callable[[str], None] = field(
        default=lambda text: print(f"hitless verify: {text}", file=sys.stderr)
    )

    @property
    def workload(self) -> JSON | None:
        return self.watched.workloads.cache.get((self.namespace, self.name))

    def pods(self) -> list[JSON]:
        """The Service's pods, as the pod watch shows them now."""
        cache = next(r for r in self.watched.reflectors if r.resource == "pods").cache
        return list(cache.values())

    def live(self) -> list[JSON]:
        """Not being deleted, oldest first (as scenarios._live)."""
        pods = [p for p in self.pods() if not p.get("metadata", {}).get("deletionTimestamp")]
        return sorted(pods, key=lambda p: (p["metadata"].get("creationTimestamp", ""), p["metadata"]["name"]))

    async def until(self, check: Callable[[], bool], what: Callable[[], str]) -> None:
        try:
            await self.watched.until(check, self.timeout)
        except TimeoutError:
            raise Incomplete(f"{what()} within {self.timeout:.0f} s") from None


def ready(pod: JSON) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in pod.get("status", {}).get("conditions") or []
    )


def desired(scene: Scene) -> int:
    """The pods the workload wants (scenarios.desired)."""
    obj = scene.workload or {}
    if scene.kind == DAEMONSET:
        return int(obj.get("status", {}).get("desiredNumberScheduled", 0))
    replicas = obj.get("spec", {}).get("replicas")
    return 1 if replicas is None else int(replicas)


def settled(scene: Scene, want: int, terminating_ok: bool = False) -> bool:
    """scenarios.settled: every wanted pod Ready, none terminating unless ``terminating_ok``
    (what ``kubectl rollout status`` waits for), and the workload's rollout status done."""
    pods = scene.pods()
    live = [p for p in pods if not p.get("metadata", {}).get("deletionTimestamp")]
    if len(live) != want or not all(ready(p) for p in live):
        return False
    if len(pods) != want and not terminating_ok:
        return False
    obj = scene.workload
    return obj is not None and rollout_status(scene.kind, obj)[0]


def unsettled(scene: Scene, want: int) -> str:
    """scenarios.unsettled: '1 of 3 pods Ready, 1 terminating; web-7d9c-abcde: CrashLoopBackOff'."""
    pods = scene.pods()
    live = [p for p in pods if not p.get("metadata", {}).get("deletionTimestamp")]
    parts = [f"{sum(ready(p) for p in live)} of {want} pods Ready"]
    if len(pods) > len(live):
        parts[0] += f", {len(pods) - len(live)} terminating"
    for pod in [p for p in live if not ready(p)][:3]:
        parts.append(f"{pod['metadata']['name']}: {_status_word(pod)}")
    obj = scene.workload
    if obj is not None:
        parts.append(rollout_status(scene.kind, obj)[1])
    return "; ".join(parts)


def _status_word(pod: JSON) -> str:
    status = pod.get("status", {})
    for st in status.get("containerStatuses") or []:
        reason = (st.get("state", {}).get("waiting") or {}).get("reason")
        if reason:
            return str(reason)
    if not pod.get("spec", {}).get("nodeName"):
        return "Pending (not scheduled)"
    phase = status.get("phase") or "Pending"
    return f"{phase}, not Ready" if phase == "Running" else str(phase)


async def wait_settled(scene: Scene, terminating_ok: bool = False) -> None:
    want = desired(scene)
    await scene.until(
        lambda: settled(scene, want, terminating_ok),
        lambda: f"the workload did not settle: {unsettled(scene, want)}",
    )


async def run_once(scene: Scene, scenario: str, round_: int, last: bool) -> str:
    """Round ``round_`` (from 1) of ``scenario``, marked in the timeline as locally; what was done.
    Raises :class:`Incomplete` when it cannot be done or the workload does not settle."""
    scene.watched.view.timeline.marks.append((scene.clock.now(), f"{scenario} {round_}"))
    steps = {
        "rollout": rollout,
        "delete-pod": delete_pod,
        "scale-down": scale_down,
        "liveness-restart": liveness_restart,
        "node-drain": node_drain,
    }
    step = steps.get(scenario)
    if step is None:
        raise Incomplete(f"unknown scenario {scenario!r}")
    what = await step(scene, last)
    scene.note(f"{scenario} {round_}: {what}: settled")
    return what


async def rollout(scene: Scene, last: bool) -> str:
    """``kubectl rollout restart KIND/NAME``, awaited as ``kubectl rollout status`` awaits it,
    then until the replaced pods are gone: their last answers belong to this rollout."""
    generation = await restart(scene.client, scene.namespace, scene.name, scene.kind)

    def rolled() -> bool:
        obj = scene.workload
        return (
            obj is not None
            and obj.get("status", {}).get("observedGeneration", 0) >= generation
            and rollout_status(scene.kind, obj)[0]
            and settled(scene, desired(scene), terminating_ok=True)
        )

    await scene.until(rolled, lambda: f"the rollout of {scene.kind.lower()}/{scene.name} did not finish")
    timeline = scene.watched.view.timeline
    await scene.until(
        lambda: all(p.gone is not None for p in timeline.pods.values() if p.deleted),
        lambda: "the replaced pods were not gone",
    )
    return f"rollout restart {scene.kind.lower()}/{scene.name}"


async def _deleted(scene: Scene, name: str, uid: str) -> None:
    """Until the watch shows the deletion (a settled check before it would see the old pod)."""

    def seen() -> bool:
        pod = next((p for p in scene.pods() if p["metadata"]["name"] == name), None)
        return (
            pod is None or pod["metadata"].get("uid") != uid or bool(pod["metadata"].get("deletionTimestamp"))
        )

    await scene.until(seen, lambda: f"the deletion of pod/{name} was not seen")


async def delete_pod(scene: Scene, last: bool) -> str:
    """``kubectl delete pod`` of the oldest pod (its own grace period); until it is replaced."""
    pods = scene.live()
    if not pods:
        raise Incomplete("no pod to delete")
    meta = pods[0]["metadata"]
    try:
        await scene.client.request("DELETE", path("Pod", scene.namespace, meta["name"]))
    except ApiError as exc:
        if exc.code != 404:
            raise Incomplete(f"delete pod/{meta['name']}: {exc}") from exc
    await _deleted(scene, meta["name"], meta.get("uid", ""))
    await wait_settled(scene, terminating_ok=not last)
    return f"delete pod/{meta['name']}"


async def _scale(scene: Scene, replicas: int) -> None:
    """``kubectl scale KIND/NAME --replicas=N``: a merge patch on the scale subresource."""
    try:
        await scene.client.request(
            "PATCH",
            path(scene.kind, scene.namespace, scene.name) + "/scale",
            body={"spec": {"replicas": replicas}},
            content_type="application/merge-patch+json",
        )
    except ApiError as exc:
        raise Incomplete(f"scale {scene.kind.lower()}/{scene.name} to {replicas}: {exc}") from exc
    await scene.until(
        lambda: desired(scene) == replicas,
        lambda: f"the scale of {scene.kind.lower()}/{scene.name} to {replicas} was not seen",
    )


async def scale_down(scene: Scene, last: bool) -> str:
    """N → N-1, settled (the removed pod gone), → N, settled (scenarios.run_once)."""
    if scene.kind == DAEMONSET:
        raise Incomplete("the scale-down scenario needs a Deployment or StatefulSet behind the Service")
    want = desired(scene)
    if want < 2:
        raise Incomplete("scale-down needs at least 2 replicas")
    await _scale(scene, want - 1)
    await wait_settled(scene)
    await _scale(scene, want)
    await wait_settled(scene, terminating_ok=not last)
    return f"scale {scene.kind.lower()}/{scene.name} {want} → {want - 1} → {want}"


def _restarts(pod: JSON, container: str) -> int:
    statuses = pod.get("status", {}).get("containerStatuses") or []
    return next((int(s.get("restartCount", 0)) for s in statuses if s.get("name") == container), 0)


async def liveness_restart(scene: Scene, last: bool) -> str:
    """Make one Ready pod's liveness endpoint fail (the demo app's /control) through the API
    server's pod proxy, as a hung app would; until the kubelet restarted the container and the
    pod is Ready again (scenarios._liveness_restart)."""
    pods = [p for p in scene.live() if ready(p)]
    if not pods:
        raise Incomplete("no Ready pod to make unhealthy")
    obj = pods[0]
    try:
        pod = Pod.model_validate(obj)
    except ValueError as exc:
        raise Incomplete(f"pod/{obj['metadata']['name']}: unreadable: {exc}") from exc
    targets = [(c.name, liveness_target(c)) for c in pod.spec.containers]
    name, port = next(((n, p) for n, p in targets if p is not None), (None, None))
    if name is None or port is None:
        raise Incomplete("liveness-restart needs a container with an httpGet livenessProbe")
    before = _restarts(obj, name)
    uid = obj["metadata"].get("uid")
    proxied = f"{path('Pod', scene.namespace, pod.name)}:{port}/proxy{LIVENESS_CONTROL}"
    try:
        await scene.client.request("POST", proxied, query={"state": "fail"}, timeout=10)
    except (ApiError, OSError, TimeoutError) as exc:
        raise Incomplete(
            f"POST {proxied}?state=fail answered {exc}: liveness-restart needs an app with hitless "
            "demo-app's /control endpoints"
        ) from exc

    def restarted() -> bool:
        current = next((p for p in scene.pods() if p["metadata"]["name"] == pod.name), None)
        if current is None or current["metadata"].get("uid") != uid:
            return True  # replaced meanwhile: settled() judges the rest
        return _restarts(current, name) > before and ready(current)

    await scene.until(restarted, lambda: f"{pod.name} was not restarted and Ready")
    await wait_settled(scene, terminating_ok=not last)
    return f"liveness failure of pod/{pod.name} (container {name}): restarted"


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
        await _cordon(scene, node, True)
    except ApiError as exc:
        raise Incomplete(f"cordon node/{node}: {exc}") from exc
    try:
        listed = await scene.client.request(
            "GET", path("Pod", scene.namespace), query={"fieldSelector": f"spec.nodeName={node}"}
        )
        names = [
            p["metadata"]["name"]
            for p in listed.get("items") or []
            if not any(
                r.get("controller") and r.get("kind") == DAEMONSET
                for r in p["metadata"].get("ownerReferences") or []
            )
        ]
        retries = await evict_pods(
            scene.client, scene.clock, scene.namespace, names, scene.timeout, scene.note
        )
        await wait_settled(scene, terminating_ok=not last)
    finally:
        # Shielded: an interrupted run still hands the node back.
        await asyncio.shield(_uncordon(scene, node))
    held = f"; {retries} eviction(s) refused by a PodDisruptionBudget and retried" if retries else ""
    return f"drain node/{node} ({len(names)} pods evicted{held}), uncordon"


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
