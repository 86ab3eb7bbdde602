"""Cluster-mode blame over synthetic watch timelines: each evidence level, and who is a candidate."""

from __future__ import annotations

from typing import Any

from hitless.verify.clusterview import (
    EXACT,
    INFERRED,
    MIN_ALLOWANCE,
    UNATTRIBUTED,
    Allowance,
    ClusterView,
    blame,
    measure_allowance,
)
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


def test_a_new_connection_answered_by_a_pod_ready_after_a_left_rules_a_out() -> None:
    # c turns ready at 2.8, after a's endpoint left (2.01): a proxy that routed a new connection to
    # c at 3.2 had applied a's removal, and never routes to a again (it moves forward in slice
    # order), though a left less than the 2 s allowance before the failure at 3.5.
    view = _view(b_deleted=3.0)
    view.on_pod("MODIFIED", _pod("c", True), 2.8)
    view.on_slice("MODIFIED", _slice(b="ready", c="ready"), 2.8)
    failed = _request(2, 3.5, 7002, error="refused")
    (b,) = blame([_request(1, 3.2, 7001, status=200, pod="c"), failed], view)
    assert (b.evidence, b.failure.pod) == (INFERRED, "run/b")
    # Without the answer, or through a LoadBalancer (each node's proxy has its own lag), a may
    # still be routed: both are candidates.
    assert blame([failed], view)[0].candidates == ["a", "b"]
    (lb,) = blame([_request(1, 3.2, 7001, status=200, pod="c"), failed], view, single_proxy=False)
    assert (lb.evidence, lb.candidates) == (UNATTRIBUTED, ["a", "b"])


def test_the_measured_allowance_is_the_least_lag_that_explains_every_failure() -> None:
    view = _view(b_deleted=3.0)
    requests = [
        _request(1, 2.3, 7101, error="refused"),  # only a fails: routed 0.29 s after it left
        _request(2, 2.6, 7102, error="refused"),  # 0.59 s after: the largest lag this run shows
        _request(3, 3.1, 7103, error="refused"),  # b (deleted at 3.0, still in the slice): no lag
    ]
    allowance = measure_allowance(requests, view)
    assert (allowance.source, allowance.observations) == ("measured", 3)
    # Never less than kube-proxy's minSyncPeriod: a change may wait that long whatever this run saw.
    assert allowance.seconds == MIN_ALLOWANCE == 1.0
    assert allowance.to_json() == {
        "seconds": 1.0,
        "source": "measured",
        "observations": 3,
        "largest": {"failedConnections": 0.59},
    }
    blames = blame(requests, view, allowance.seconds)
    assert [(b.evidence, b.failure.pod) for b in blames] == [
        (INFERRED, "run/a"),
        (INFERRED, "run/a"),
        (INFERRED, "run/b"),  # a left 1.09 s before: beyond the allowance
    ]
    # The fixed 2 s keeps a among the candidates of the last one.
    assert blame(requests, view)[2].candidates == ["a", "b"]


def test_with_nothing_to_measure_the_allowance_is_the_fixed_one() -> None:
    answered = [_request(1, 1.0, 7201, status=200, pod="a")]
    assert measure_allowance(answered, _view()) == Allowance(2.0, "fixed")


def test_with_no_ready_endpoint_a_proxy_routes_to_the_terminating_ones() -> None:
    from hitless.verify.proxyorder import versions

    view = ClusterView(NS)
    view.on_slice("ADDED", _slice(a="ready"), 0.0)
    view.on_slice("MODIFIED", _slice(a="terminating", b="not-ready"), 1.0)
    view.on_slice("MODIFIED", _slice(a="terminating", b="ready"), 2.0)
    assert [sorted(v.routable) for v in versions(view)] == [["a"], ["a"], ["b"]]


def test_a_later_answer_bounds_the_proxys_state_from_above() -> None:
    from hitless.verify.proxyorder import Routing, versions

    # Versions: 0.0 a,b ready; 1.0 c added not ready; 2.01 a terminating; 2.5 a gone.
    history = versions(_view())
    assert [v.at for v in history] == [0.0, 1.0, 2.01, 2.5]
    # a answered a new connection at 2.4: the proxy was still before a's removal then, so at
    # 2.2 too (it never goes back), though the view had moved on at 2.01.
    routing = Routing(history, [(2.4, "a")], allowance=2.0)
    assert routing.bounds(2.2) == (0, 1)
    assert Routing(history, [], allowance=2.0).bounds(2.2) == (0, 2)
    # Past the answer (and the ordering slack) it bounds nothing.
    assert routing.bounds(2.6) == (0, 3)
