"""Cluster-mode blame over synthetic watch timelines: each evidence level, and who is a candidate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hitless.clock import FakeClock
from hitless.verify.clusterview import (
    EXACT,
    INFERRED,
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
    assert abs(allowance.seconds - 0.59) < 1e-9
    assert allowance.to_json() == {"seconds": 0.59, "source": "measured", "observations": 3}
    blames = blame(requests, view, allowance.seconds)
    assert [(b.evidence, b.failure.pod) for b in blames] == [
        (INFERRED, "run/a"),
        (INFERRED, "run/a"),
        (INFERRED, "run/b"),  # a left 1.09 s before: beyond the measured lag
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


# --- restarts and reused names (clusterrecord.py) ---------------------------------------------------

WALL0 = datetime(2026, 1, 1, tzinfo=UTC)  # FakeClock's wall time at 0.0


def _status(
    pod: dict[str, Any], restarts: int, running: bool = True, last: dict[str, Any] | None = None
) -> None:
    status: dict[str, Any] = {"name": "web", "restartCount": restarts, "ready": running, "image": "x"}
    status["state"] = {"running": {}} if running else {"waiting": {"reason": "CrashLoopBackOff"}}
    if last is not None:
        status["lastState"] = {"terminated": last}
    pod["status"]["containerStatuses"] = [status]


def _killing(
    pod: str, uid: str, made: float, count: int = 1, reason: str = "Killing", **kw: Any
) -> dict[str, Any]:
    """The kubelet's Event, named as client-go names it: <pod>.<hex UnixNano of ``made``>."""
    nanos = int((WALL0 + timedelta(seconds=made)).timestamp() * 1e9)
    return {
        "metadata": {"name": f"{pod}.{nanos:x}", "namespace": NS},
        "involvedObject": {"kind": "Pod", "name": pod, "uid": uid, "fieldPath": "spec.containers{web}"},
        "reason": reason,
        "message": kw.get("message", "Container web failed liveness probe, will be restarted"),
        "count": count,
        **({"series": kw["series"]} if "series" in kw else {}),
    }


def _restart_view() -> ClusterView:
    """a and b serve; a's liveness probe fails: the kubelet's Killing (made at 5.0, seen at 5.3),
    preStop sleep 1 s (its stop signal 6.0), Ready false at 6.8 (its endpoint at 6.9), running
    again at 7.5, Ready at 9.0."""
    view = ClusterView(NS, clock=FakeClock())
    a, b = _pod("a", True, pre_stop=1), _pod("b", True)
    _status(a, 0)
    view.on_pod("ADDED", a, 0.0)
    view.on_pod("ADDED", b, 0.0)
    view.on_slice("ADDED", _slice(a="ready", b="ready"), 0.0)
    view.on_event("ADDED", _killing("a", "a", 5.0), 5.3)
    a = _pod("a", False, pre_stop=1)
    _status(a, 0)
    view.on_pod("MODIFIED", a, 6.8)
    view.on_slice("MODIFIED", _slice(a="not-ready", b="ready"), 6.9)
    a = _pod("a", False, pre_stop=1)
    _status(a, 1, last={"exitCode": 0, "reason": "Completed", "finishedAt": "2026-01-01T00:00:07Z"})
    view.on_pod("MODIFIED", a, 7.5)
    a = _pod("a", True, pre_stop=1)
    _status(a, 1, last={"exitCode": 0, "reason": "Completed", "finishedAt": "2026-01-01T00:00:07Z"})
    view.on_pod("MODIFIED", a, 9.0)
    view.on_slice("MODIFIED", _slice(a="ready", b="ready"), 9.05)
    return view


def test_a_liveness_kill_is_recorded_as_the_local_timeline_records_a_restart() -> None:
    view = _restart_view()
    life = view.timeline.life(f"{NS}/a")
    assert life is not None
    # The Killing Event's name dates the kill (5.0), not its arrival (5.3); + the 1 s preStop.
    (kill,) = view.restarts
    assert (kill.at, kill.stamped_by, kill.container) == (5.0, "event-name", "web")
    assert [(s.at, s.container) for s in life.stop_signals] == [(6.0, "web")]
    # The exit (lastState.terminated, after the stop signal: at the status's arrival, as locally
    # without a runtime to watch) and the new instance.
    assert [(e.at, e.exit_code, e.killed) for e in life.exits] == [(7.5, 0, False)]
    assert [t for t, _ in life.started] == [0.0, 7.5]
    assert [life.phase_at(t) for t in (5.5, 6.5, 8.0, 9.5)] == ["ready", "restarting", "not-ready", "ready"]
    assert life.deleted is None and view.timeline.past == []


def test_failures_around_a_restart_are_listener_closed_with_evidence_as_locally() -> None:
    from hitless.verify.attribute import LISTENER_CLOSED, RunContext
    from hitless.verify.findings import findings

    view = _restart_view()
    requests = [
        _request(1, 6.2, 8001, error="refused"),  # a new connection: a is the one failing endpoint
        _request(2, 4.0, 8002, status=200, pod="a"),
        _request(3, 6.3, 8002, error="timeout", reused=True),  # the same connection: exact
        _request(4, 5.5, 8003, error="refused"),  # before the stop signal: no restart yet
    ]
    by_seq = {b.failure.seq: b for b in blame(requests, view)}
    assert (by_seq[1].evidence, by_seq[1].failure.pod, by_seq[1].failure.cause) == (
        INFERRED,
        "run/a",
        LISTENER_CLOSED,
    )
    assert (by_seq[3].evidence, by_seq[3].failure.pod, by_seq[3].failure.cause) == (
        EXACT,
        "run/a",
        LISTENER_CLOSED,
    )
    assert by_seq[1].failure.restart and by_seq[1].failure.phase == "restarting"
    assert "failed liveness probe" in by_seq[1].failure.reason
    assert by_seq[4].evidence == UNATTRIBUTED and by_seq[4].failure.cause == "other"
    # The local finding for a restart (findings.py): fail readiness first, for longer than the lag.
    context = RunContext(service=f"{NS}/web", workload=("Deployment", "web"))
    (finding,) = findings([by_seq[1].failure, by_seq[3].failure], view.timeline, context)
    assert (finding.cause, finding.field) == (
        LISTENER_CLOSED,
        "spec.template.spec.containers[0].readinessProbe",
    )


def test_a_repeated_killing_and_a_deletions_killing() -> None:
    view = _restart_view()
    # The same Event again (count 2: the correlator keeps the first name): its series dates it,
    # or else its arrival; the first occurrence's name would be 6 s early.
    series = {"count": 2, "lastObservedTime": "2026-01-01T00:00:20.250000Z"}
    view.on_event("MODIFIED", _killing("a", "a", 5.0, count=2, series=series), 20.4)
    view.on_event("MODIFIED", _killing("a", "a", 5.0, count=2, series=series), 20.5)  # not new
    view.on_event("MODIFIED", _killing("a", "a", 5.0, count=3), 30.4)
    assert [(k.at, k.stamped_by) for k in view.restarts[1:]] == [
        (20.25, "event-series"),
        (30.4, "event-arrival"),
    ]
    # A deletion's Killing ("Stopping container web") is the deletion's, not a restart.
    view.on_pod("MODIFIED", _pod("b", False, deleted=True), 40.0)
    view.on_event("ADDED", _killing("b", "b", 40.1, message="Stopping container web"), 40.2)
    assert len(view.restarts) == 3
    # A name stamped far before its arrival (a skewed node clock) is not believed.
    view.on_event("ADDED", _killing("a", "a", 10.0, reason="Unhealthy"), 50.0)
    life = view.timeline.life(f"{NS}/a")
    assert life is not None and life.events[-1][:2] == (50.0, "Unhealthy")


def test_a_crash_is_a_restart_from_the_containers_status() -> None:
    view = ClusterView(NS, clock=FakeClock())
    a = _pod("a", True)
    _status(a, 0)
    view.on_pod("ADDED", a, 0.0)
    view.on_pod("ADDED", _pod("b", True), 0.0)
    view.on_slice("ADDED", _slice(a="ready", b="ready"), 0.0)
    a = _pod("a", False)
    _status(a, 1, last={"exitCode": 2, "reason": "Error", "finishedAt": "2026-01-01T00:00:03Z"})
    view.on_pod("MODIFIED", a, 3.6)
    (crash,) = view.restarts
    assert (crash.at, crash.stamped_by, crash.message) == (3.0, "status", "exited: Error")
    (b,) = blame([_request(1, 3.4, 8101, error="refused")], view)
    assert (b.evidence, b.failure.pod, b.failure.cause, b.failure.restart) == (
        INFERRED,
        "run/a",
        "listener-closed",
        True,
    )
    assert "exited" in b.failure.reason


def _web0(uid: str, ready: bool, deleted: bool = False) -> dict[str, Any]:
    pod = _pod("web-0", ready, deleted=deleted)
    pod["metadata"]["uid"] = uid
    return pod


def test_a_statefulset_pod_recreated_under_its_name_is_a_life_of_its_own() -> None:
    from hitless.verify.attribute import Attribution
    from hitless.verify.report import Report

    view = ClusterView(NS, clock=FakeClock())
    view.on_pod("ADDED", _web0("u1", True), 0.0)
    view.on_slice("ADDED", _slice(**{"web-0": "ready"}), 0.0)
    view.on_pod("MODIFIED", _web0("u1", False, deleted=True), 3.0)
    view.on_slice("MODIFIED", _slice(**{"web-0": "terminating"}), 3.05)
    view.on_pod("DELETED", _web0("u1", False, deleted=True), 4.0)
    view.on_slice("MODIFIED", _slice(), 4.05)
    view.on_pod("ADDED", _web0("u2", False), 4.5)
    view.on_event("ADDED", _killing("web-0", "u1", 3.1, message="Stopping container web"), 3.2)
    view.on_pod("MODIFIED", _web0("u2", True), 6.0)
    view.on_slice("MODIFIED", _slice(**{"web-0": "ready"}), 6.05)
    view.on_event("ADDED", _killing("web-0", "u2", 6.1, reason="Started"), 6.2)
    old, new = view.timeline.lives()
    assert (old.uid, old.created, old.deleted, old.gone) == ("u1", 0.0, 3.0, 4.0)
    assert (new.uid, new.created, new.deleted, new.gone) == ("u2", 4.5, None, None)
    assert [e[1] for e in old.events] == ["Killing"] and [e[1] for e in new.events] == ["Started"]
    assert new.phase_at(7.0) == "ready" and old.phase_at(7.0) == "gone"
    # A failure while the first web-0 terminated is its; the second is a pod of its own.
    (b,) = blame([_request(1, 3.5, 8201, error="refused")], view)
    assert (b.evidence, b.failure.pod, b.failure.cause) == (INFERRED, "run/web-0", "terminating-still-routed")
    assert b.failure.phase == "stopping"
    # The second one's deletion-free life gives no propagation number; a late answer of the first does.
    from hitless.verify.clusterview import propagation

    answered = [
        _request(2, 3.4, 8202, status=200, pod="web-0"),
        _request(3, 6.5, 8203, status=200, pod="web-0"),
    ]
    assert propagation(answered, view) == {"web-0": 0.35}
    pods = Report([], Attribution(), [], view.timeline, 0.0).to_json()["pods"]
    assert [(p["pod"], p["created"], p["gone"]) for p in pods] == [
        ("run/web-0", 0.0, 4.0),
        ("run/web-0", 4.5, None),
    ]
