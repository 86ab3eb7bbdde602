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

from hitless.api.types.pod import Pod
from hitless.kube.client import JSON, ApiError
from hitless.verify.cluster_drain import DrainBlocked, evict_pods, node_drain, preflight
from hitless.verify.cluster_scene import (
    DAEMONSET,
    Incomplete,
    Scene,
    desired,
    ready,
    rollout_status,
    settled,
    unsettled,
    wait_settled,
)
from hitless.verify.cluster_steps import path, restart
from hitless.verify.scenarios import liveness_target

# Re-exported: verify/cluster.py and the tests reach the scenarios through this module.
__all__ = ["DrainBlocked", "Incomplete", "Scene", "evict_pods", "preflight", "rollout_status", "run_once"]

# The demo app's run-time override of its liveness endpoint (docs/demo-app.md), with ?state=fail.
LIVENESS_CONTROL = "/control/healthz"


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

    await scene.until(
        rolled,
        f"the rollout of {scene.kind.lower()}/{scene.name} did not finish",
        lambda: unsettled(scene, desired(scene)),
    )
    timeline = scene.watched.view.timeline
    await scene.until(
        lambda: all(p.gone is not None for p in timeline.pods.values() if p.deleted),
        "the replaced pods were not gone",
    )
    return f"rollout restart {scene.kind.lower()}/{scene.name}"


async def _deleted(scene: Scene, name: str, uid: str) -> None:
    """Until the watch shows the deletion (a settled check before it would see the old pod)."""

    def seen() -> bool:
        pod = next((p for p in scene.pods() if p["metadata"]["name"] == name), None)
        return (
            pod is None or pod["metadata"].get("uid") != uid or bool(pod["metadata"].get("deletionTimestamp"))
        )

    await scene.until(seen, f"the deletion of pod/{name} was not seen")


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
        f"the scale of {scene.kind.lower()}/{scene.name} to {replicas} was not seen",
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

    await scene.until(restarted, f"{pod.name} was not restarted and Ready")
    await wait_settled(scene, terminating_ok=not last)
    return f"liveness failure of pod/{pod.name} (container {name}): restarted"
