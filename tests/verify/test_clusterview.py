"""Cluster-mode blame over synthetic watch timelines: each evidence level, and who is a candidate."""

from __future__ import annotations

from typing import Any

from hitless.verify.clusterview import EXACT, INFERRED, UNATTRIBUTED, ClusterView, blame
from hitless.verify.generator import RequestResult

NS = "run"


def _pod(name: str, ready: bool, deleted: bool = False, pre_stop: int | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "web", "image": "x"}
    if pre_stop is not None:
        container["lifecycle"] = {"preStop": {"sleep": {"seconds": pre_stop}}}
    meta: dict[str, Any] = {"name": name, "namespace": NS, "uid": name}
    if deleted:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        meta["deletionGracePeriodSeconds"] = 30
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"containers": [container], "nodeName": "node-1"},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def _slice(**states: str) -> dict[str, Any]:
    conditions = {
        "ready": {"ready": True, "serving": True, "terminating": False},
        "terminating": {"ready": False, "serving": False, "terminating": True},
        "not-ready": {"ready": False, "serving": False, "terminating": False},
    }
    return {
        "metadata": {"name": "web-abc", "namespace": NS},
        "endpoints": [
            {"addresses": ["10.0.0.1"], "conditions": conditions[s], "targetRef": {"kind": "Pod", "name": p}}
            for p, s in states.items()
        ],
    }


def _view(b_deleted: float = 10.0) -> ClusterView:
    """a and b serve; c starts at 1.0 (never ready here); a is deleted at 2.0, b at 10.0."""
    view = ClusterView(NS)
    view.on_pod("ADDED", _pod("a", True), 0.0)
    view.on_pod("ADDED", _pod("b", True), 0.0)
    view.on_slice("ADDED", _slice(a="ready", b="ready"), 0.0)
    view.on_pod("ADDED", _pod("c", False), 1.0)
    view.on_slice("MODIFIED", _slice(a="ready", b="ready", c="not-ready"), 1.0)
    view.on_pod("MODIFIED", _pod("a", False, deleted=True), 2.0)
    view.on_slice("MODIFIED", _slice(a="terminating", b="ready", c="not-ready"), 2.01)
    view.on_slice("MODIFIED", _slice(b="ready", c="not-ready"), 2.5)
    view.on_pod("MODIFIED", _pod("b", False, deleted=True, pre_stop=3), b_deleted)
    return view


def _request(seq: int, at: float, port: int, **kw: Any) -> RequestResult:
    r = RequestResult(
        seq=seq, intended=at, keepalive=True, sent=at, done=at + 0.01, client=("127.0.0.1", port)
    )
    for k, v in kw.items():
        setattr(r, k, v)
    return r


def test_a_fresh_connection_failing_while_one_endpoint_fails_is_inferred() -> None:
    # c is not ready and was never ready: kube-proxy skips it, so a is the only candidate.
    (b,) = blame([_request(1, 2.1, 5001, error="refused")], _view())
    assert (b.evidence, b.failure.pod, b.failure.cause) == (INFERRED, "run/a", "terminating-still-routed")
    assert b.failure.phase == "stopping"  # no preStop: the stop signal is taken at the deletion


def test_the_pod_an_earlier_answer_on_the_same_connection_named_is_exact() -> None:
    requests = [
        _request(1, 9.0, 5002, status=200, pod="b"),
        _request(2, 10.2, 5002, error="reset", reused=True, detail="closed before any response byte"),
    ]
    (b,) = blame(requests, _view())
    assert (b.evidence, b.failure.pod, b.failure.cause) == (EXACT, "run/b", "keepalive-reset")
    # b has a preStop sleep of 3 s: its stop signal is estimated at 13.0, so it is still terminating.
    assert b.failure.phase == "terminating"


def test_two_failing_endpoints_leave_the_failure_unattributed_with_candidates() -> None:
    view = _view(b_deleted=3.0)  # a stopped being ready at 2.01: still within the 2 s allowance
    (b,) = blame([_request(1, 3.5, 5003, error="refused")], view)
    assert (b.evidence, b.failure.pod, b.failure.cause) == (UNATTRIBUTED, None, "other")
    assert b.candidates == ["a", "b"]


def test_an_endpoint_gone_longer_than_the_allowance_is_no_candidate() -> None:
    (b,) = blame([_request(1, 10.1, 5004, error="refused")], _view())
    assert (b.evidence, b.failure.pod) == (INFERRED, "run/b")


def test_a_connection_whose_first_answer_named_no_pod_gives_no_exact_blame() -> None:
    requests = [
        _request(1, 1.5, 5005, status=200),  # an app that does not name its pod
        _request(2, 1.6, 5005, error="timeout", reused=True),
    ]
    (b,) = blame(requests, _view())
    assert b.evidence == UNATTRIBUTED and b.candidates == ["a", "b"]


def test_propagation_is_the_latest_new_connection_a_replaced_pod_answered() -> None:
    from hitless.verify.clusterview import propagation

    requests = [
        _request(1, 2.3, 6001, status=200, pod="a"),  # new connection, 0.29 s after a turned terminating
        _request(2, 2.9, 6002, status=200, pod="a"),  # 0.89 s after: the bound
        _request(3, 3.2, 6001, status=200, pod="a", reused=True),  # reused: says nothing of routing
        _request(4, 3.3, 6003, error="refused"),
        _request(5, 5.0, 6004, status=200, pod="b"),  # b's endpoint never stopped being ready
    ]
    assert propagation(requests, _view()) == {"a": 0.89}
