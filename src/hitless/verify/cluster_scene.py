"""What cluster mode's scenarios act on and wait for (verify/cluster_scenarios.py): the workload
and its pods as the run's watches show them, and the wait rules of verify/scenarios.py (every wanted
pod Ready, none terminating, the workload's rollout status done) over the API's JSON."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from hitless.api.types.daemonset import DaemonSet
from hitless.api.types.statefulset import StatefulSet
from hitless.clock import Clock
from hitless.kube.client import JSON, KubeClient
from hitless.output.workload_status import daemonset_status, statefulset_status
from hitless.verify.cluster_steps import SETTLE_TIMEOUT, ClusterError, Watched, rollout_done

# Neither scaled nor drained (kubectl/pkg/drain/filters.go daemonSetFilter: --ignore-daemonsets).
DAEMONSET = "DaemonSet"


class Incomplete(Exception):
    """A round that could not do or finish its scenario: the report says so (``incomplete``)."""


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

    async def until(
        self, check: Callable[[], bool], what: str, detail: Callable[[], str] | None = None
    ) -> None:
        """Until ``check()``, woken by the watches; else Incomplete: "WHAT within N s: DETAIL"."""
        try:
            await self.watched.until(check, self.timeout)
        except TimeoutError:
            why = f": {detail()}" if detail is not None else ""
            raise Incomplete(f"{what} within {self.timeout:.0f} s{why}") from None


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
        "the workload did not settle",
        lambda: unsettled(scene, want),
    )
