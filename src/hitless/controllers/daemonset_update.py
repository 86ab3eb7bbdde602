"""A DaemonSet's rolling update, after pkg/controller/daemon/update.go (rollingUpdate,
findUpdatedPodsOnNode, updatedDesiredNodeCounts).

Without surge, old pods are deleted while fewer than ``maxUnavailable`` nodes are unavailable,
and the manage loop creates each node's new pod once its old pod is gone. With surge
(``maxUnavailable: 0``), a new pod is created beside the old one on up to ``maxSurge`` nodes at a
time, and the old pod is deleted only once the new one is available: the node never lacks a
ready pod.
"""

from __future__ import annotations

from hitless.api.types.daemonset import DaemonSet
from hitless.api.types.node import Node
from hitless.api.types.pod import Pod
from hitless.clock import Clock
from hitless.controllers import daemonset_util as du


def find_updated_pods_on_node(
    ds: DaemonSet, pods: list[Pod], hash_: str
) -> tuple[Pod | None, Pod | None, bool]:
    """(new pod, old pod, ok): ok is False when a node has two of either, for manage to prune."""
    new: Pod | None = None
    old: Pod | None = None
    generation = du.template_generation(ds)
    for pod in pods:
        if pod.metadata.deletion_timestamp is not None:
            continue
        if du.is_pod_updated(pod, hash_, generation):
            if new is not None:
                return None, None, False
            new = pod
        else:
            if old is not None:
                return None, None, False
            old = pod
    return new, old, True


def rolling_update(
    ds: DaemonSet, nodes: list[Node], node_pods: dict[str, list[Pod]], hash_: str, clock: Clock
) -> tuple[list[str], list[str]]:
    """The pods to delete and the nodes to create a pod on, for this step of the update."""
    desired = 0
    for node in nodes:
        if du.node_should_run_daemon_pod(node, ds)[0]:
            desired += 1
            node_pods.setdefault(node.name, [])
    max_surge, max_unavailable = du.surge_count(ds, desired), du.unavailable_count(ds, desired)
    if desired > 0 and max_unavailable == 0 and max_surge == 0:
        max_unavailable = 1  # an impossible configuration is read as the default
    now = clock.wall()
    min_ready = ds.spec.min_ready_seconds or 0

    def available(pod: Pod) -> bool:
        return du.available(pod, min_ready, now)

    if max_surge == 0:
        unavailable = 0
        replacements: list[str] = []
        candidates: list[str] = []
        for node_name in sorted(node_pods):
            new, old, ok = find_updated_pods_on_node(ds, node_pods[node_name], hash_)
            if not ok or (old is None) == (new is None):
                unavailable += 1  # the manage loop creates or prunes here
            elif new is not None:
                unavailable += not available(new)
            elif old is not None and not available(old):
                replacements.append(old.name)
                unavailable += 1
            elif old is not None and unavailable < max_unavailable:
                candidates.append(old.name)
        remaining = min(max(max_unavailable - unavailable, 0), len(candidates))
        return replacements + candidates[:remaining], []

    to_delete: list[str] = []
    should_not_run: list[str] = []
    candidate_nodes: list[str] = []
    allowed_nodes: list[str] = []
    surge = 0
    available_count = 0
    by_name = {n.name: n for n in nodes}
    for node_name in sorted(node_pods):
        new, old, ok = find_updated_pods_on_node(ds, node_pods[node_name], hash_)
        if not ok:
            surge += 1
            continue
        if old is not None:
            available_count += available(old)
        elif new is not None:
            available_count += available(new)
        on = by_name.get(node_name)
        should_run = on is not None and du.node_should_run_daemon_pod(on, ds)[0]
        if old is None:
            continue
        if new is None:
            if not available(old):
                if not should_run:
                    to_delete.append(old.name)
                else:
                    allowed_nodes.append(node_name)
            elif not should_run:
                should_not_run.append(old.name)
            elif surge < max_surge:
                candidate_nodes.append(node_name)
            continue
        if not available(new):
            surge += 1
            continue
        to_delete.append(old.name)
    deletable = min(max(available_count - desired, 0), len(should_not_run))
    to_delete += should_not_run[:deletable]
    remaining = min(max(max_surge - surge, 0), len(candidate_nodes))
    return to_delete, allowed_nodes + candidate_nodes[:remaining]
