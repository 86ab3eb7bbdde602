"""Cluster mode's scenarios without a cluster: the permissions each asks for, the refusals (exit 2
before anything is created), kubectl's rollout status viewers over the API's JSON, and drain's
eviction retries on the fake clock against a fake API that answers 429 as kube-apiserver does."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from hitless.cli import verify
from hitless.clock import FakeClock
from hitless.kube.client import ApiError, KubeClient
from hitless.verify.cluster_drain import node_drain
from hitless.verify.cluster_scenarios import (
    DrainBlocked,
    Incomplete,
    Scene,
    evict_pods,
    preflight,
    refusal,
    rollout_status,
)
from hitless.verify.cluster_scene import wait_settled
from hitless.verify.cluster_steps import PreflightError, missing_access, required_access

ROOT = Path(__file__).resolve().parents[2]


def access(scenario: str, workload: str = "Deployment") -> set[str]:
    need = required_access({"Service"}, "ns", True, scenario=scenario, workload=workload)
    return {
        f"{a['verb']} {a['resource']}{'/' + a['subresource'] if a['subresource'] else ''}"
        f"{' in ' + a['namespace'] if a['namespace'] else ''}"
        for a in need
    }


def test_each_scenario_asks_for_its_own_permissions_only() -> None:
    base = access("none")
    assert {"create namespaces", "delete namespaces", "list pods in ns", "get services in ns"} <= base
    assert access("rollout") - base == {"patch deployments in ns"}
    assert access("delete-pod") - base == {"delete pods in ns"}
    assert access("scale-down") - base == {"patch deployments/scale in ns"}
    assert access("liveness-restart") - base == {"create pods/proxy in ns"}
    assert access("node-drain") - base == {
        "create pods/eviction in ns",
        "get nodes",
        "list nodes",
        "patch nodes",
    }
    # Nothing cluster-scoped beyond the throwaway namespace unless the scenario is a drain.
    for scenario in ("rollout", "delete-pod", "scale-down", "liveness-restart"):
        assert not any("nodes" in a for a in access(scenario)), scenario
    # A StatefulSet is watched (its rollout status) and patched itself.
    sts = access("rollout", "StatefulSet")
    assert {"list statefulsets in ns", "watch statefulsets in ns", "patch statefulsets in ns"} <= sts
    assert "patch statefulsets/scale in ns" in access("scale-down", "StatefulSet")
    assert "watch daemonsets in ns" in access("delete-pod", "DaemonSet")


async def test_a_missing_subresource_permission_is_named_as_kubectl_auth_can_i_takes_it() -> None:
    class Reviews:
        async def can_i(
            self, verb: str, resource: str, group: str = "", namespace: str = "", subresource: str = ""
        ) -> bool:
            return not (resource == "pods" and subresource == "proxy")

    need = required_access({"Deployment"}, "ns", False, scenario="liveness-restart")
    missing = await missing_access(Reviews(), need)  # type: ignore[arg-type]
    assert missing == ["create pods/proxy in namespace ns"]


def test_refusals_before_anything_is_created() -> None:
    assert refusal("node-drain", "Deployment", 3, allow_node_drain=False) == (
        "--scenario node-drain cordons and drains a node of the cluster, which other workloads share: "
        "it runs only with --allow-node-drain"
    )
    assert refusal("node-drain", "Deployment", 3, allow_node_drain=True) is None
    assert refusal("node-drain", "DaemonSet", None, allow_node_drain=True) is not None
    assert refusal("scale-down", "DaemonSet", None, False) is not None
    assert refusal("scale-down", "StatefulSet", 1, False) == "--scenario scale-down needs at least 2 replicas"
    assert refusal("scale-down", "StatefulSet", 2, False) is None
    assert refusal("liveness-restart", "Pod", 1, False) is not None
    for scenario in ("rollout", "delete-pod", "liveness-restart"):
        assert refusal(scenario, "DaemonSet", None, False) is None


def test_the_cli_refuses_a_drain_not_asked_for(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(*args: Any) -> int:
        raise AssertionError("refused before the cluster is touched")

    from hitless.verify import cluster

    monkeypatch.setattr(cluster, "run_cluster", never)
    example = str(ROOT / "examples" / "zero-downtime.yaml")
    assert verify.main([example, "--scenario", "node-drain", "--kubeconfig", "/nonexistent"]) == 2
    assert "it runs only with --allow-node-drain" in capsys.readouterr().err
    assert verify.main([example, "--allow-node-drain"]) == 2
    assert "--allow-node-drain is for a cluster: it needs --kubeconfig" in capsys.readouterr().err
    daemonset = str(ROOT / "examples" / "daemonset.yaml")
    assert verify.main([daemonset, "--scenario", "scale-down", "--kubeconfig", "/nonexistent"]) == 2
    assert "a DaemonSet has no replicas" in capsys.readouterr().err


def sts(**status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db", "generation": 2},
        "spec": {
            "replicas": 2,
            "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db"}]}},
            # What the API server defaults (kubectl's viewer then reports a partitioned rollout).
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
        },
        "status": status,
    }


def ds(**status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent", "generation": 2},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [{"name": "a"}]}},
            "updateStrategy": {"type": "RollingUpdate"},
        },
        "status": status,
    }


def test_kubectls_status_viewers_over_the_watched_json() -> None:
    assert rollout_status("StatefulSet", sts(observedGeneration=1)) == (
        False,
        "Waiting for statefulset spec update to be observed...",
    )
    assert rollout_status("StatefulSet", sts(observedGeneration=2, readyReplicas=1, replicas=2)) == (
        False,
        "Waiting for 1 pods to be ready...",
    )
    assert rollout_status(
        "StatefulSet", sts(observedGeneration=2, readyReplicas=2, updatedReplicas=1, replicas=2)
    ) == (False, "Waiting for partitioned roll out to finish: 1 out of 2 new pods have been updated...")
    assert rollout_status(
        "StatefulSet", sts(observedGeneration=2, readyReplicas=2, updatedReplicas=2, replicas=2)
    ) == (True, "partitioned roll out complete: 2 new pods have been updated...")
    waiting = ds(observedGeneration=2, desiredNumberScheduled=2, updatedNumberScheduled=1, numberAvailable=2)
    assert rollout_status("DaemonSet", waiting) == (
        False,
        'Waiting for daemon set "agent" rollout to finish: 1 out of 2 new pods have been updated...',
    )
    done = ds(observedGeneration=2, desiredNumberScheduled=2, updatedNumberScheduled=2, numberAvailable=2)
    assert rollout_status("DaemonSet", done) == (True, 'daemon set "agent" successfully rolled out')
    assert rollout_status("DaemonSet", ds(observedGeneration=1))[0] is False


CAUSE = "The disruption budget web needs 2 healthy pods and has 2 currently"


class FakeApi:
    """POST pods/NAME/eviction as kube-apiserver answers it while a budget allows ``allowed`` more."""

    def __init__(self, clock: FakeClock, allowed: int, refill_at: float | None = None) -> None:
        self.clock, self.allowed, self.refill_at = clock, allowed, refill_at
        self.evicted: list[tuple[str, float]] = []

    async def request(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        assert method == "POST" and path.endswith("/eviction"), path
        body = kw["body"]
        assert (body["apiVersion"], body["kind"]) == ("policy/v1", "Eviction")
        name = body["metadata"]["name"]
        if self.refill_at is not None and self.clock.now() >= self.refill_at:
            self.allowed, self.refill_at = self.allowed + 1, None
        if name == "gone":
            raise ApiError(404, f'pods "{name}" not found', "NotFound")
        if self.allowed == 0:
            raise ApiError(
                429,
                "Cannot evict pod as it would violate the pod's disruption budget.",
                "TooManyRequests",
                {"causes": [{"reason": "DisruptionBudget", "message": CAUSE}]},
            )
        self.allowed -= 1
        self.evicted.append((name, self.clock.now()))
        return {"kind": "Status", "status": "Success"}


async def drive(clock: FakeClock, work: Any, seconds: float) -> Any:
    task = asyncio.ensure_future(work)
    await clock.advance(seconds)
    return await task


async def test_a_refused_eviction_is_retried_every_5_s_until_the_budget_allows_it() -> None:
    clock = FakeClock()
    api = FakeApi(clock, allowed=1, refill_at=7.0)
    notes: list[str] = []
    client: KubeClient = api  # type: ignore[assignment]
    retries = await drive(clock, evict_pods(client, clock, "ns", ["a", "b", "gone"], 60, notes.append), 30)
    # b is refused at 0 and 5 s, then evicted at 10 s once a replacement made the budget allow one.
    assert api.evicted == [("a", 0.0), ("b", 10.0)]
    assert retries == 2
    assert notes[0] == (
        'error when evicting pods/"b" -n "ns" (will retry after 5s): '
        "Cannot evict pod as it would violate the pod's disruption budget."
    )


async def test_a_drain_blocked_until_the_timeout_names_the_budget() -> None:
    clock = FakeClock()
    client: KubeClient = FakeApi(clock, allowed=0)  # type: ignore[assignment]
    with pytest.raises(DrainBlocked) as blocked:
        await drive(clock, evict_pods(client, clock, "ns", ["a"], 12, None), 30)
    assert str(blocked.value) == (
        'drain blocked by PodDisruptionBudget "web" for 12 s: pods/"a" -n "ns": Cannot evict pod as it '
        "would violate the pod's disruption budget. The disruption budget web needs 2 healthy pods and "
        "has 2 currently"
    )


async def test_a_drain_needs_two_schedulable_nodes() -> None:
    class Nodes:
        async def request(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
            ready = {"conditions": [{"type": "Ready", "status": "True"}]}
            return {
                "items": [
                    {"metadata": {"name": "a"}, "spec": {}, "status": ready},
                    {"metadata": {"name": "b"}, "spec": {"unschedulable": True}, "status": ready},
                ]
            }

    with pytest.raises(PreflightError, match=r"at least 2 schedulable nodes .*; this cluster has 1 \(a\)"):
        await preflight(Nodes(), "node-drain")  # type: ignore[arg-type]
    await preflight(Nodes(), "delete-pod")  # type: ignore[arg-type]


class DrainApi:
    """Cordon, list and evict as the API answers them; eviction answers ``evict`` (an ApiError to
    raise, or None to hang as a slow API server would)."""

    def __init__(self, evict: ApiError | None) -> None:
        self.evict = evict
        self.sent: list[tuple[str, str, Any]] = []
        self.evicting = asyncio.Event()

    async def request(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        self.sent.append((method, path, kw.get("body")))
        if path.endswith("/eviction"):
            self.evicting.set()
            if self.evict is None:
                await asyncio.Event().wait()
            raise self.evict or AssertionError
        if method == "GET":
            agent = {"name": "agent", "labels": {"app.kubernetes.io/managed-by": "hitless"}}
            daemon = {"name": "ds-x", "ownerReferences": [{"kind": "DaemonSet", "controller": True}]}
            return {"items": [{"metadata": {"name": "web-a"}}, {"metadata": agent}, {"metadata": daemon}]}
        return {}


def drain_scene(api: DrainApi) -> Scene:
    pod = {
        "metadata": {"name": "web-a", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"nodeName": "n1"},
    }
    pods = SimpleNamespace(resource="pods", cache={("ns", "web-a"): pod})
    watched = SimpleNamespace(reflectors=[pods], workloads=SimpleNamespace(cache={}))
    return Scene(api, watched, FakeClock(), "ns", "Deployment", "web", note=lambda _: None)  # type: ignore[arg-type]


UNCORDON = ("PATCH", "/api/v1/nodes/n1", {"spec": {"unschedulable": None}})


async def test_the_node_is_uncordoned_when_the_drain_fails() -> None:
    api = DrainApi(ApiError(403, "forbidden by a webhook", "Forbidden"))
    with pytest.raises(Incomplete, match='error when evicting pods/"web-a" -n "ns": forbidden by a webhook'):
        await node_drain(drain_scene(api), last=True)
    assert api.sent[0] == ("PATCH", "/api/v1/nodes/n1", {"spec": {"unschedulable": True}})
    # Only the workload's pod is evicted: the run's own agent and a DaemonSet's pod stay.
    assert [p for _, p, _ in api.sent if p.endswith("/eviction")] == [
        "/api/v1/namespaces/ns/pods/web-a/eviction"
    ]
    assert api.sent[-1] == UNCORDON


async def test_the_node_is_uncordoned_when_the_run_is_interrupted() -> None:
    api = DrainApi(None)
    task = asyncio.ensure_future(node_drain(drain_scene(api), last=True))
    await api.evicting.wait()
    task.cancel()  # what Ctrl-C does to the run
    with pytest.raises(asyncio.CancelledError):
        await task
    assert api.sent[-1] == UNCORDON


async def test_a_workload_that_does_not_settle_is_told_as_locally() -> None:
    def pod(name: str, ready: bool, waiting: str | None = None) -> dict[str, Any]:
        status: dict[str, Any] = {"conditions": [{"type": "Ready", "status": str(ready)}]}
        if waiting:
            status["containerStatuses"] = [{"name": "web", "state": {"waiting": {"reason": waiting}}}]
        return {"metadata": {"name": name}, "spec": {"nodeName": "n1"}, "status": status}

    async def never(check: Any, timeout: float) -> None:
        assert not check()
        raise TimeoutError

    pods = [pod("web-a", True), pod("web-b", True), pod("web-c", False, "CrashLoopBackOff")]
    deployment = {
        "metadata": {"name": "web", "generation": 1},
        "spec": {"replicas": 3},
        "status": {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 2},
    }
    watched = SimpleNamespace(
        reflectors=[SimpleNamespace(resource="pods", cache={("ns", p["metadata"]["name"]): p for p in pods})],
        workloads=SimpleNamespace(cache={("ns", "web"): deployment}),
        until=never,
    )
    scene = Scene(None, watched, FakeClock(), "ns", "Deployment", "web")  # type: ignore[arg-type]
    with pytest.raises(Incomplete) as stuck:
        await wait_settled(scene)
    assert str(stuck.value) == (
        "the workload did not settle within 120 s: 2 of 3 pods Ready; web-c: CrashLoopBackOff; "
        'Waiting for deployment "web" rollout to finish: 2 of 3 updated replicas are available...'
    )


def test_workload_names_the_kind_cluster_mode_acts_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hitless.verify import cluster
    from hitless.verify.result import Result

    seen: list[tuple[str, str, str]] = []

    def verify_cluster(loaded: Any, opts: Any) -> Result:
        # The run's own choice (run_cluster plans as this), short of the cluster.
        picked = cluster.plan_cluster([o.obj for o in loaded], opts)
        assert not isinstance(picked, str) and picked.context.workload is not None
        seen.append((opts.scenario, *picked.context.workload))
        return Result(None)  # nothing judged: exit 1

    monkeypatch.setattr(cluster, "verify_cluster", verify_cluster)
    template = "template: {metadata: {labels: {app: web}}, spec: {containers: [{name: web, image: hitless}]}}"
    manifest = tmp_path / "two.yaml"
    manifest.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"
        f"spec: {{replicas: 2, selector: {{matchLabels: {{app: web}}}}, {template}}}\n---\n"
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\n"
        f"spec: {{replicas: 2, serviceName: web, selector: {{matchLabels: {{app: web}}}}, {template}}}\n---\n"
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
        "spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}\n"
    )
    argv = [str(manifest), "--kubeconfig", str(tmp_path / "kubeconfig"), "--scenario", "scale-down"]
    assert verify.main([*argv, "--workload", "statefulset/db"]) == 1
    assert verify.main([*argv, "--workload", "deployment/web"]) == 1
    assert seen == [("scale-down", "StatefulSet", "db"), ("scale-down", "Deployment", "web")]
