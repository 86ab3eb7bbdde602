"""Which pods a ReplicaSet deletes first: ActivePodsWithRanks.Less, criterion by criterion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hitless.api.types.pod import Pod
from hitless.controllers.controller_utils import compute_hash, pods_to_delete, scaled_value

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def pod(
    name: str,
    node: str | None = "node-1",
    phase: str = "Running",
    ready_for: float | None = 3600,
    created_ago: float = 7200,
    restarts: int = 0,
    cost: str | None = None,
) -> Pod:
    conditions: list[dict[str, Any]] = []
    if ready_for is not None:
        t = (NOW - timedelta(seconds=ready_for)).strftime("%Y-%m-%dT%H:%M:%SZ")
        conditions.append({"type": "Ready", "status": "True", "lastTransitionTime": t})
    else:
        conditions.append({"type": "Ready", "status": "False"})
    return Pod.from_json(
        {
            "metadata": {
                "name": name,
                "uid": f"uid-{name}",
                "creationTimestamp": (NOW - timedelta(seconds=created_ago)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                **({"annotations": {"controller.kubernetes.io/pod-deletion-cost": cost}} if cost else {}),
            },
            "spec": {"nodeName": node, "containers": [{"name": "app"}]},
            "status": {
                "phase": phase,
                "conditions": conditions,
                "containerStatuses": [{"name": "app", "restartCount": restarts}],
            },
        }
    )


def first(pods: list[Pod], related: list[Pod] | None = None) -> str:
    return pods_to_delete(pods, related if related is not None else pods, 1, NOW)[0].name


def test_unscheduled_first() -> None:
    assert first([pod("a"), pod("b", node=None, phase="Pending", ready_for=None)]) == "b"


def test_pending_before_running() -> None:
    assert first([pod("a"), pod("b", phase="Pending", ready_for=None)]) == "b"


def test_not_ready_before_ready() -> None:
    assert first([pod("a"), pod("b", ready_for=None)]) == "b"


def test_lower_deletion_cost_first() -> None:
    assert first([pod("a", cost="10"), pod("b", cost="-5"), pod("c", ready_for=60)]) == "b"
    assert (
        first([pod("a", cost="bogus", ready_for=100000), pod("b", ready_for=100000, created_ago=1e6)]) == "a"
    )


def test_doubled_up_first() -> None:
    a, b = pod("a", node="node-1"), pod("b", node="node-2")
    sibling = pod("other-rs-pod", node="node-2")
    assert first([a, b], [a, b, sibling]) == "b"


def test_ready_for_less_time_first_in_log2_buckets() -> None:
    assert first([pod("a", ready_for=4000), pod("b", ready_for=30)]) == "b"
    # 3000 s and 2500 s fall in the same power-of-two bucket of nanoseconds: the tie is broken by
    # UID, before restart counts are looked at.
    assert first([pod("a", ready_for=3000), pod("b", ready_for=2500, restarts=5)]) == "a"
    assert first([pod("b", ready_for=3000, restarts=5), pod("a", ready_for=2500)]) == "a"


def test_more_restarts_first_then_newer_first() -> None:
    assert first([pod("a", restarts=0), pod("b", restarts=2)]) == "b"
    assert first([pod("a", created_ago=100000), pod("b", created_ago=10)]) == "b"


def test_everything_goes_without_ranking() -> None:
    pods = [pod("a"), pod("b")]
    assert [p.name for p in pods_to_delete(pods, pods, 2, NOW)] == ["a", "b"]


def test_int_or_percent_rounding() -> None:
    assert scaled_value("25%", 10, True) == 3 and scaled_value("25%", 10, False) == 2
    assert scaled_value("25%", 4, True) == 1 and scaled_value("33%", 3, False) == 0
    assert scaled_value(2, 10, True) == 2


def test_hash_has_upstreams_form() -> None:
    h = compute_hash({"spec": {"containers": [{"name": "app"}]}}, None)
    assert set(h) <= set("bcdfghjklmnpqrstvwxz2456789") and 1 <= len(h) <= 10
    assert compute_hash({"spec": {}}, 1) != compute_hash({"spec": {}}, None)
