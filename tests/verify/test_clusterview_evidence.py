"""Cluster-mode blame's narrower evidence, on a synthetic rollout: what a failure's kind says of
the pod it met (verify/failkind.py), what a run of answers from other pods says of the proxy's
state (proxyorder.dropped), and the lag a new pod's first answer shows (verify/lag.py)."""

from __future__ import annotations

from typing import Any

from hitless.verify.clusterview import INFERRED, UNATTRIBUTED, ClusterView, blame, measure_allowance
from hitless.verify.failkind import answered_by_rst
from hitless.verify.generator import RequestResult
from hitless.verify.lag import arrivals
from hitless.verify.proxyorder import dropped, quiet, versions
from tests.verify.test_clusterview import NS, _pod, _request, _slice


def _gone(name: str) -> dict[str, Any]:
    pod = _pod(name, False, deleted=True)
    pod["status"]["phase"] = "Succeeded"  # the kubelet writes it after stopping the sandbox
    return pod


def _rollout(force_deleted: bool = False) -> ClusterView:
    """a and b serve; c turns ready at 1.0 and a is deleted (terminating at 1.03, out of the slice
    at 1.2, gone at 1.35); d turns ready at 2.0 and b is deleted (terminating at 2.03)."""
    view = ClusterView(NS)
    view.on_pod("ADDED", _pod("a", True), 0.0)
    view.on_pod("ADDED", _pod("b", True), 0.0)
    view.on_slice("ADDED", _slice(a="ready", b="ready"), 0.0)
    view.on_pod("ADDED", _pod("c", True), 1.0)
    view.on_slice("MODIFIED", _slice(a="ready", b="ready", c="ready"), 1.0)
    view.on_pod("MODIFIED", _pod("a", False, deleted=True), 1.02)
    view.on_slice("MODIFIED", _slice(a="terminating", b="ready", c="ready"), 1.03)
    view.on_slice("MODIFIED", _slice(b="ready", c="ready"), 1.2)
    if not force_deleted:
        view.on_pod("MODIFIED", _gone("a"), 1.3)
    view.on_pod("DELETED", _gone("a") if not force_deleted else _pod("a", False, deleted=True), 1.35)
    view.on_pod("ADDED", _pod("d", True), 2.0)
    view.on_slice("MODIFIED", _slice(b="ready", c="ready", d="ready"), 2.0)
    view.on_pod("MODIFIED", _pod("b", False, deleted=True), 2.02)
    view.on_slice("MODIFIED", _slice(b="terminating", c="ready", d="ready"), 2.03)
    return view


def _answers(start: float, pods: list[str], count: int, port: int) -> list[RequestResult]:
    """``count`` new connections 10 ms apart from ``start``, answered by ``pods`` in turn."""
    return [
        _request(port + i, start + i * 0.01, port + i, status=200, pod=pods[i % len(pods)])
        for i in range(count)
    ]


def test_a_quick_reset_cannot_come_from_a_pod_whose_network_was_gone() -> None:
    # At 2.1 both a (out of the slice 0.9 s ago, within the fixed 2 s allowance) and b (deleted
    # at 2.02) may have been routed and were failing; a's pod object was removed after its
    # terminal phase at 1.35, so its address answered nothing any more: a RST at once was b's.
    reset = _request(1, 2.1, 5001, error="reset")
    (b,) = blame([reset], _rollout())
    assert (b.evidence, b.failure.pod) == (INFERRED, "run/b")
    # A timeout fits both (a gone pod's address times out); so does a reset that came late (a
    # proxy giving up on a gone pod's address), and a refusal by the network.
    late = _request(2, 2.1, 5002, error="reset", done=5.2)
    unreachable = _request(3, 2.1, 5003, error="refused", detail="connect: [Errno 113] No route to host")
    assert answered_by_rst(reset) and not answered_by_rst(late) and not answered_by_rst(unreachable)
    for r in (_request(4, 2.1, 5004, error="timeout", done=5.1), late, unreachable):
        (u,) = blame([r], _rollout())
        assert (u.evidence, u.candidates) == (UNATTRIBUTED, ["a", "b"]), r
    # A force deletion removes the object while the pod still runs: no terminal phase, no proof.
    (forced,) = blame([reset], _rollout(force_deleted=True))
    assert (forced.evidence, forced.candidates) == (UNATTRIBUTED, ["a", "b"])


def test_a_long_run_of_answers_from_other_pods_shows_the_proxy_dropped_one() -> None:
    # a answered early on; from 1.3 on, 60 new connections in a row were answered by b and c. A
    # proxy still routing a (one of three endpoints) would have sent each there with a chance of
    # 1/3: 28 of them in a row, among the 60 new connections since a answered, rule it out (a
    # chance of (2/3)**28 each, below 1/1000 over 60), so a timeout at 2.1 was b's.
    view = _rollout()
    need = quiet(3, 60)
    assert need == 28
    early = _answers(0.1, ["a"], 1, 6000)
    run = _answers(1.3, ["b", "c"], 60, 6100)
    drops = dropped([*early, *run], versions(view), lambda pod: None)
    assert drops == [(run[need - 1].sent, "a")]
    timeout = _request(1, 2.1, 6200, error="timeout", done=5.1)
    (b,) = blame([*early, *run, timeout], view)
    assert (b.evidence, b.failure.pod) == (INFERRED, "run/b")
    # A failure (it may have been a's) or an answer naming no pod every 20 connections breaks
    # the run: no such bound.
    for broken in ({"error": "timeout"}, {"status": 200}):
        gaps = [
            r if i % 20 != 19 else _request(r.seq, r.intended, r.seq, **broken) for i, r in enumerate(run)
        ]
        assert dropped([*early, *gaps], versions(view), lambda pod: None) == []
    # Once a's network was gone, any success missed it, named or not.
    unnamed = [_request(r.seq, r.intended, r.seq, status=200) for r in run]
    assert [p for _, p in dropped([*early, *unnamed], versions(view), lambda pod: 1.35)] == ["a"]
    # Through a LoadBalancer each node's proxy has its own state: no bound.
    (lb,) = blame([*early, *run, timeout], view, single_proxy=False)
    assert lb.evidence == UNATTRIBUTED


def test_a_new_pods_first_answer_measures_the_lag_from_the_other_end() -> None:
    # c turned ready at 1.0 (in this view) and first answered a new connection at 1.3; d at 2.0
    # and 2.45. No failure explains a lag here: the first answers' largest is the run's lag.
    view = _rollout()
    requests = [
        *_answers(0.1, ["a", "b"], 4, 7000),
        *_answers(1.3, ["c", "b"], 2, 7100),
        _request(7200, 2.45, 7200, status=200, pod="d"),
        _request(7201, 2.5, 7201, status=200, pod="d", reused=True),
    ]
    assert arrivals(requests, view) == {"c": 0.3, "d": 0.45}
    allowance = measure_allowance(requests, view)
    assert (allowance.seconds, allowance.source, allowance.observations) == (1.0, "measured", 2)
    assert allowance.to_json()["largest"] == {"firstAnswers": 0.45}  # under the 1 s floor


def test_a_time_out_while_a_pod_was_refusing_was_anothers() -> None:
    # After 2.02 b (alive, deleted) refuses new connections: RSTs at 2.1 and 2.3, blamed on it (a's
    # network was gone: no RST of its). A time-out sent at 2.2, between them, found no listener
    # that would have answered with a RST: not b, so a (gone: nothing answers there).
    view = _rollout()
    requests = [
        _request(1, 2.1, 8001, error="reset"),
        _request(2, 2.2, 8002, error="timeout", done=5.2),
        _request(3, 2.3, 8003, error="reset"),
    ]
    blames = blame(requests, view)
    assert [(b.evidence, b.failure.pod) for b in blames] == [
        (INFERRED, "run/b"),
        (INFERRED, "run/a"),
        (INFERRED, "run/b"),
    ]
    # Outside the refusing window the time-out fits both.
    late = _request(2, 2.4, 8002, error="timeout", done=5.4)
    assert blame([requests[0], late, requests[2]], view)[1].candidates == ["a", "b"]


def test_a_time_out_while_the_runner_itself_was_starved_is_not_inferred() -> None:
    from tests.verify.test_clusterview import _view

    # Only a fails at 2.1: a time-out then is a's, unless the runner's own loop was starved while
    # it was out (a request due at 3.0 sent 1.2 s late): it may have read the answer too late.
    timeout = _request(1, 2.1, 9001, error="timeout", done=5.1)
    (b,) = blame([timeout], _view())
    assert (b.evidence, b.failure.pod) == (INFERRED, "run/a")
    starved = _request(2, 3.0, 9002, status=200, pod="b", sent=4.2, done=4.25)
    b = blame([timeout, starved], _view())[0]
    assert (b.evidence, b.candidates) == (UNATTRIBUTED, ["a", "b"])
    assert "the runner sent requests up to 1.2 s late" in b.failure.reason
    # A refusal says more than the runner's time: still a's.
    refused = _request(3, 2.1, 9003, error="refused")
    assert blame([refused, starved], _view())[0].evidence == INFERRED


def test_a_connection_the_runner_sent_late_was_routed_between_its_due_time_and_its_send() -> None:
    from tests.verify.test_clusterview import _view

    # Due at 1.9, sent at 4.3: the connect, and the proxy's choice, came somewhere in between, when
    # a (out of the slice at 2.01) may still have been routed, though not 0.1 s before 4.3.
    late = _request(1, 1.9, 9101, error="refused", sent=4.3, done=4.31)
    (b,) = blame([late], _view(), allowance=0.1)
    assert (b.evidence, b.failure.pod) == (INFERRED, "run/a")
    on_time = _request(1, 4.3, 9101, error="refused")
    assert blame([on_time], _view(), allowance=0.1)[0].evidence == UNATTRIBUTED
