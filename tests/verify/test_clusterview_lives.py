"""Cluster mode's record of restarts and reused names (verify/clusterrecord.py) and the blame it
gives, on synthetic watch timelines: a liveness kill dated by its Killing Event's name, a crash
from the container's status, a repeated Event, a deletion's Killing, a StatefulSet's pod
recreated under its name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hitless.clock import FakeClock
from hitless.verify.clusterview import EXACT, INFERRED, UNATTRIBUTED, ClusterView, blame
from tests.verify.test_clusterview import NS, _pod, _request, _slice

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
    # A deletion's Killing ("Stopping container web") is the deletion's, not a restart: it dates
    # the deletion's stop signal (the kubelet acted 0.3 s after the deletion was seen; + preStop).
    view.on_pod("MODIFIED", _pod("b", False, deleted=True, pre_stop=2), 40.0)
    b = view.timeline.life(f"{NS}/b")
    assert b is not None and [(s.at, s.container) for s in b.stop_signals] == [(42.0, "")]
    view.on_event("ADDED", _killing("b", "b", 40.3, message="Stopping container web"), 40.4)
    assert len(view.restarts) == 3
    assert [(round(s.at, 3), s.container) for s in b.stop_signals] == [(42.3, "web")]
    # Stamped by the kubelet before this watch saw the deletion (a late watch), the deletion's
    # Killing dates the deletion itself; so does one that came before the deletion was seen.
    for name, seen, made, arrived in (("c", 60.0, 59.8, 60.1), ("d", 70.2, 70.0, 70.05)):
        view.on_pod("ADDED", _pod(name, True, pre_stop=2), 55.0)
        if seen < arrived:
            view.on_pod("MODIFIED", _pod(name, False, deleted=True, pre_stop=2), seen)
        view.on_event("ADDED", _killing(name, name, made, message="Stopping container web"), arrived)
        view.on_pod("MODIFIED", _pod(name, False, deleted=True, pre_stop=2), seen)
        life = view.timeline.life(f"{NS}/{name}")
        assert life is not None and life.deleted is not None and round(life.deleted, 3) == made, name
        assert [round(s.at, 3) for s in life.stop_signals] == [round(made + 2, 3)], name
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


def test_a_killing_seen_after_the_exit_is_the_exits_restart_not_a_crash() -> None:
    view = ClusterView(NS, clock=FakeClock())
    a = _pod("a", True)
    _status(a, 0)
    view.on_pod("ADDED", a, 0.0)
    a = _pod("a", False)
    _status(a, 1, last={"exitCode": 0, "reason": "Completed", "finishedAt": "2026-01-01T00:00:06Z"})
    view.on_pod("MODIFIED", a, 6.5)
    view.on_event("ADDED", _killing("a", "a", 5.0), 6.6)  # its watch lagged behind the pod's
    (kill,) = view.restarts
    assert (kill.at, kill.stamped_by) == (5.0, "event-name")


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
