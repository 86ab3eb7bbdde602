"""DaemonSets on a fake clock over three nodes: one pod per node, bound by node affinity; the
rolling update node by node, without and with surge; node selectors, taints, status."""

from __future__ import annotations

from pathlib import Path

from hitless.api.types.daemonset import DaemonSet
from hitless.api.types.node import Node, Taint
from hitless.api.types.pod import Pod
from hitless.controllers import placement
from hitless.controllers.controller_utils import is_pod_ready

from .conftest import READY_AFTER
from .workloads import Workloads, daemonset, set_version, workloads_cluster


def ds(w: Workloads) -> DaemonSet:
    d = w.get("DaemonSet", "agent")
    assert isinstance(d, DaemonSet)
    return d


def version(p: Pod) -> str:
    return (p.metadata.annotations or {}).get("version", "")


def rolled(w: Workloads, want: str, nodes: int = 3) -> bool:
    d = ds(w)
    pods = w.store.pods()
    return (
        d.status.observed_generation == d.metadata.generation
        and d.status.updated_number_scheduled == nodes
        and d.status.number_available == nodes
        and len(pods) == nodes
        and all(version(p) == want and is_pod_ready(p) for p in pods)
    )


async def test_one_pod_per_node_bound_by_affinity(tmp_path: Path) -> None:
    async with workloads_cluster(tmp_path, nodes=3) as w:
        w.apply(daemonset())
        await w.until(lambda: rolled(w, "v1"))
        pods = w.pods()
        assert sorted(p.spec.node_name or "" for p in pods) == ["node-1", "node-2", "node-3"]
        for p in pods:
            assert placement.target_node_name(p.spec) == p.spec.node_name
            terms = p.to_json()["spec"]["affinity"]["nodeAffinity"][
                "requiredDuringSchedulingIgnoredDuringExecution"
            ]
            assert terms == {
                "nodeSelectorTerms": [
                    {
                        "matchFields": [
                            {"key": "metadata.name", "operator": "In", "values": [p.spec.node_name]}
                        ]
                    }
                ]
            }
            assert {
                "key": "node.kubernetes.io/unschedulable",
                "operator": "Exists",
                "effect": "NoSchedule",
            } in (p.to_json()["spec"]["tolerations"])
            labels = p.metadata.labels or {}
            assert labels["pod-template-generation"] == "1" and labels["controller-revision-hash"]
        status = ds(w).status.to_json()
        assert status == {
            "currentNumberScheduled": 3,
            "numberMisscheduled": 0,
            "desiredNumberScheduled": 3,
            "numberReady": 3,
            "observedGeneration": 1,
            "updatedNumberScheduled": 3,
            "numberAvailable": 3,
        }
        assert len(w.events("SuccessfulCreate")) == 3


async def test_rolling_update_max_unavailable_one_goes_node_by_node(tmp_path: Path) -> None:
    async with workloads_cluster(tmp_path, nodes=3) as w:
        w.apply(daemonset(annotations={READY_AFTER: "2"}))
        await w.until(lambda: rolled(w, "v1"))
        start = len(w.trace)
        alive = {p.name: (p.spec.node_name or "", True) for p in w.pods()}
        w.update("DaemonSet", "agent", set_version("v2"))
        await w.until(lambda: rolled(w, "v2"))
        # Per node: old pod terminating, gone, then the new pod; one node down at a time.
        most = 0
        for _, kind, p in w.trace[start:]:
            ok = kind != "DELETED" and p.metadata.deletion_timestamp is None and is_pod_ready(p)
            alive[p.name] = (placement.target_node_name(p.spec) or "", ok)
            up = {node for node, ok in alive.values() if ok}
            most = max(most, 3 - len(up))
        assert most == 1
        # The new pod of a node is created only after its old pod is gone from the store.
        events = [(kind, p) for _, kind, p in w.trace[start:]]
        for kind, p in events:
            if kind == "ADDED":
                node = placement.target_node_name(p.spec)
                deleted_before = [
                    q
                    for k, q in events[: events.index((kind, p))]
                    if k == "DELETED" and placement.target_node_name(q.spec) == node
                ]
                assert deleted_before, f"new pod on {node} before the old one was gone"
        assert (ds(w).metadata.annotations or {})["deprecated.daemonset.template.generation"] == "2"


async def test_surge_creates_beside_the_old_pod(tmp_path: Path) -> None:
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    async with workloads_cluster(tmp_path, nodes=3) as w:
        w.apply(daemonset(updateStrategy=strategy, annotations={READY_AFTER: "2"}))
        await w.until(lambda: rolled(w, "v1"))
        start = len(w.trace)
        initial = {p.name: (p.spec.node_name or "", True) for p in w.store.pods()}
        w.update("DaemonSet", "agent", set_version("v2"))
        await w.until(lambda: rolled(w, "v2"))
        # Every node always has a Ready pod that is not terminating.
        state = dict(initial)
        for _, kind, p in w.trace[start:]:
            alive = kind != "DELETED" and p.metadata.deletion_timestamp is None and is_pod_ready(p)
            state[p.name] = (placement.target_node_name(p.spec) or "", alive)
            for node in ("node-1", "node-2", "node-3"):
                assert any(alive and n == node for n, alive in state.values()), f"{node} had no ready pod"
        # At most maxSurge (1) nodes with two pods at a time.
        per_node: dict[str, set[str]] = {}
        for name, (node, _) in initial.items():
            per_node.setdefault(node, set()).add(name)
        for _, kind, p in w.trace[start:]:
            node = placement.target_node_name(p.spec) or ""
            if kind == "DELETED" or p.metadata.deletion_timestamp is not None:
                per_node.get(node, set()).discard(p.name)
            else:
                per_node.setdefault(node, set()).add(p.name)
            assert sum(1 for names in per_node.values() if len(names) > 1) <= 1


async def test_node_selector_and_taints(tmp_path: Path) -> None:
    async with workloads_cluster(tmp_path, nodes=3) as w:
        node = w.get("Node", "node-3")
        assert isinstance(node, Node)
        tainted = node.copy_deep()
        tainted.spec.taints = [Taint(key="dedicated", value="db", effect="NoSchedule")]
        w.store.update(tainted)
        labelled = w.get("Node", "node-2").copy_deep()
        labelled.metadata.labels = {**(labelled.metadata.labels or {}), "role": "edge"}
        w.store.update(labelled)
        manifest = daemonset()
        manifest["spec"]["template"]["spec"]["nodeSelector"] = {"kubernetes.io/os": "linux"}
        w.apply(manifest)
        await w.until(lambda: ds(w).status.number_ready == 2)
        assert sorted(p.spec.node_name or "" for p in w.pods()) == ["node-1", "node-2"]
        assert ds(w).status.desired_number_scheduled == 2

        def tolerate(d: DaemonSet) -> None:
            placement.set_extra(
                d.spec.template.spec, "tolerations", [{"key": "dedicated", "operator": "Exists"}]
            )

        w.update("DaemonSet", "agent", tolerate)
        await w.until(lambda: ds(w).status.number_ready == 3 and ds(w).status.updated_number_scheduled == 3)

        def edge_only(d: DaemonSet) -> None:
            d.spec.template.spec.node_selector = {"role": "edge"}

        w.update("DaemonSet", "agent", edge_only)
        await w.until(
            lambda: [p.spec.node_name for p in w.store.pods()] == ["node-2"] and is_pod_ready(w.pods()[0])
        )
        assert ds(w).status.desired_number_scheduled == 1
