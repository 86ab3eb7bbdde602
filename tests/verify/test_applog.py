"""The app's log as cluster-mode evidence, on synthetic lines: the SIGTERM moment and the peers.

hitless's proxies connect from the node's address, so the differential test never sees the
runner's address in an app's log (and a loopback client is never believed: its port may be a
pod's own probe's): ``exact-app-log`` is held to these timelines only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hitless.verify.applog import AppLog, apply_sigterm, peer_index
from hitless.verify.clusterview import EXACT_APP_LOG, UNATTRIBUTED, blame
from tests.verify.test_clusterview import NS, _request, _view

T0 = datetime(2026, 12, 6, 6, 0, 0, tzinfo=UTC)


def _clock(at: datetime) -> float:
    """Runner clock 0.0 is T0."""
    return (at - T0).total_seconds()


def _stamp(t: float) -> str:
    """The API's RFC 3339 with nanoseconds, as ``timestamps=true`` writes it."""
    at = T0 + timedelta(seconds=t)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond:06d}123Z"


def _log(*lines: tuple[float, str]) -> AppLog:
    log = AppLog()
    for t, text in lines:
        log.add(f"{_stamp(t)} 2026-12-06T06:00:00.000Z +1.000s {text}", _clock)
    return log


def test_the_sigterm_line_and_the_request_peers_are_read_on_the_runners_clock() -> None:
    log = _log(
        (1.25, 'request 127.0.0.1:5001 "GET / HTTP/1.1" 200 12B 0.010s (request 1 on its connection)'),
        (1.5, 'request [::1]:5002 "GET / HTTP/1.1" 200 12B 0.010s (request 1 on its connection)'),
        (2.004, "SIGTERM received: draining; readyz failing; serving for --shutdown-delay 0s"),
        (2.5, "SIGTERM received again: already draining"),
    )
    assert log.sigterm is not None and abs(log.sigterm - 2.004) < 1e-6
    assert sorted(log.peers) == [("127.0.0.1", 5001), ("::1", 5002)]
    log.add("not a stamped line", _clock)  # skipped, not an error
    assert len(log.peers) == 2


def test_the_logged_sigterm_replaces_the_estimated_stop_signal() -> None:
    view = _view()  # b: deleted at 10.0 with a 3 s preStop sleep: estimated stop at 13.0
    life = view.timeline.life(f"{NS}/b")
    assert life is not None and life.stop_signals[0].at == 13.0
    assert apply_sigterm({"b": _log((13.4, "SIGTERM received (--on-sigterm exit)"))}, view.timeline, NS) == 1
    assert life.stop_signals[0].at == 13.4 and life.phase_at(13.2) == "terminating"
    assert life.deleted == 10.0
    # Logged 3 s (the preStop sleep) after a moment before this watch saw the deletion: the watch
    # was late, and the deletion was by then.
    view = _view()
    life = view.timeline.life(f"{NS}/b")
    assert life is not None
    apply_sigterm({"b": _log((12.8, "SIGTERM received (--on-sigterm exit)"))}, view.timeline, NS)
    assert life.stop_signals[0].at == 12.8 and life.deleted is not None and round(life.deleted, 3) == 9.8


def test_a_request_the_app_logged_from_this_connection_names_its_pod() -> None:
    # The app names no pod in its answers; its log shows a request from 10.0.0.9:5005 at 1.52.
    peers = peer_index({"a": _log((1.52, 'request 10.0.0.9:5005 "GET / HTTP/1.1" 200 2B 0.01s'))})
    requests = [
        _request(1, 1.5, 5005, status=200, client=("10.0.0.9", 5005)),
        _request(2, 1.6, 5005, error="timeout", reused=True, client=("10.0.0.9", 5005)),
    ]
    (b,) = blame(requests, _view(), app_peers=peers)
    assert (b.evidence, b.failure.pod) == (EXACT_APP_LOG, "run/a")
    # A later connection from the same port (opened at 9.0) is not the logged one.
    later = [
        _request(3, 9.0, 5005, status=200, client=("10.0.0.9", 5005)),
        _request(4, 9.1, 5005, error="timeout", reused=True, client=("10.0.0.9", 5005)),
    ]
    assert blame(later, _view(), app_peers=peers)[0].evidence == UNATTRIBUTED


def test_only_requests_for_the_loads_path_name_a_pod() -> None:
    # Another client of the pod (a probe, another pod) may share a runner connection's address
    # (another network namespace, its own ports): only a line for the load's path is its request.
    log = _log(
        (1.52, 'request 10.0.0.9:5005 "GET /readyz HTTP/1.1" 200 2B 0.01s'),
        (1.53, 'request 10.0.0.9:5006 "GET /?q=1 HTTP/1.1" 200 2B 0.01s'),
    )
    assert peer_index({"a": log}, "/") == {("10.0.0.9", 5005): [], ("10.0.0.9", 5006): []}
    assert peer_index({"a": log}, "/?q=1")[("10.0.0.9", 5006)] == [(1.53, "a")]
    client = ("10.0.0.9", 5005)
    requests = [
        _request(1, 1.5, 5005, status=200, client=client),
        _request(2, 1.6, 5005, error="timeout", reused=True, client=client),
    ]
    assert blame(requests, _view(), app_peers=peer_index({"a": log}, "/"))[0].evidence == UNATTRIBUTED
    assert blame(requests, _view(), app_peers=peer_index({"a": log}))[0].evidence == EXACT_APP_LOG


def test_a_loopback_peer_in_a_pods_log_is_its_own_traffic_not_the_clients() -> None:
    # The runner on 127.0.0.1:5006 and, in the pod's own network namespace, a readiness probe
    # from 127.0.0.1:5006: no Service brings the runner's loopback address into the pod.
    probe = 'request 127.0.0.1:5006 "GET /readyz HTTP/1.1" 200 2B 0.01s'
    peers = peer_index({"a": _log((1.52, probe))})
    requests = [_request(1, 1.5, 5006, status=200), _request(2, 1.6, 5006, error="timeout", reused=True)]
    assert blame(requests, _view(), app_peers=peers)[0].evidence == UNATTRIBUTED


def test_each_instances_sigterm_replaces_the_stop_it_belongs_to() -> None:
    from tests.verify.test_clusterview_lives import _restart_view

    # a: a liveness kill (stop estimated at 6.0); later deleted (its stop estimated at 20.0 + 1).
    view = _restart_view()
    view.on_pod("MODIFIED", _deleted_a(), 20.0)
    first = _log((6.2, "SIGTERM received: draining"))
    first.pod, first.uid = "a", "a"
    second = _log((21.3, "SIGTERM received: draining"))
    second.pod, second.uid = "a", "a"
    assert apply_sigterm({"a/a/0": first, "a/a/1": second}, view.timeline, NS) == 1
    life = view.timeline.life(f"{NS}/a")
    assert life is not None
    assert [round(s.at, 3) for s in life.stop_signals] == [6.2, 21.3]
    assert life.phase_at(6.1) == "ready" and life.phase_at(6.3) == "restarting"
    # Each log's peers under its pod's name, not the follower's key.
    first.peers[("127.0.0.1", 9001)] = [(6.0, "/")]
    assert peer_index({"a/a/0": first}) == {("127.0.0.1", 9001): [(6.0, "a")]}


def _deleted_a() -> dict[str, object]:
    from tests.verify.test_clusterview import _pod

    return _pod("a", False, deleted=True, pre_stop=1)
