"""Cluster mode's view of the world and its blame: what the watches showed, on the runner's clock.

On a cluster hitless has no proxy records: a failed request is blamed from what the API shows
(Pods and EndpointSlices as the watches delivered them, stamped on arrival) and from the answers
themselves, and every blame says how it knows (``evidence``, docs/verify.md):

- ``exact-connection``: an earlier answer on the same keep-alive connection named its pod (the
  demo app's ``x-pod-name`` header): the connection goes to that pod, whatever kube-proxy does.
- ``exact-app-log``: the app's own log (applog.py) shows a request from this connection's
  client address: only where nothing rewrites it on the way (never through hitless's proxies).
- ``inferred``: at send time exactly one endpoint the Service could route to was failing in the
  watch view (its pod deleted or not ready, its endpoint terminating or just removed).
- ``unattributed``: neither; ``candidates`` lists the failing endpoints of that moment.

A pure function of the requests and the recorded view, so it is tested on synthetic timelines.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from hitless.verify.applog import CLOCK_SLACK
from hitless.verify.attribute import (
    KEEPALIVE_RESET,
    LISTENER_CLOSED,
    NOT_READY,
    OTHER,
    TERMINATING_STILL_ROUTED,
    Failure,
)
from hitless.verify.clusterrecord import ClusterView, EndpointState, Restart
from hitless.verify.failkind import Lateness, Refusals, could_have_met, gone_at, refusals
from hitless.verify.generator import RequestResult
from hitless.verify.lag import arrivals, propagation
from hitless.verify.proxyorder import VIEW_SLACK, Routing, dropped, fresh_answers, versions
from hitless.verify.timeline import READY, TERMINATING, PodLife

# Re-exported: the view lives in verify/clusterrecord.py, the lags in verify/lag.py, the blame here.
__all__ = ["ClusterView", "EndpointState", "Restart", "propagation"]

EXACT = "exact-connection"
EXACT_APP_LOG = "exact-app-log"
INFERRED = "inferred"
UNATTRIBUTED = "unattributed"

# Client address -> (runner-clock time, pod) of each request an app logged from it.
Peers = Mapping[tuple[str, int], list[tuple[float, str]]]

# How long after an endpoint left the slice (in the runner's view) a node's proxy may still route
# to it: kube-proxy's minSyncPeriod (1 s) plus its own watch latency. The fallback only: a run
# measures its own (``measure_allowance``) when its failures or answers show a lag.
PROPAGATION_ALLOWANCE = 2.0
# The measured allowance is never below this: kube-proxy syncs at most once per minSyncPeriod
# (default 1 s, kubernetes/kubernetes pkg/proxy/apis/config/v1alpha1/defaults.go), so a change that
# arrives just after a sync waits about that long, whether or not this run's evidence caught one.
# Measured as less, a change's failures were inferred onto the next pod replaced.
MIN_ALLOWANCE = 1.0


@dataclass
class Blame:
    failure: Failure
    evidence: str
    candidates: list[str]


def _failed_at(r: RequestResult) -> float:
    """When the request failed: a refusal or reset is known when it came (the pod may have been
    stopped between the send and then); a timeout tells nothing of when: its send."""
    sent = r.sent if r.sent is not None else r.intended
    if r.error in ("refused", "reset") and r.done is not None:
        return r.done
    return sent


def _is_failing(routing: Routing, view: ClusterView, pod: str, t: float) -> bool:
    """Deleted by ``t``, restarting at ``t`` (a container killed or exited, the pod not Ready
    again yet), or routable before and not at ``t`` (its readiness failed, it turned terminating,
    it left the slice). A pod not ready yet is not failing: no proxy routes to it before it turns
    ready."""
    life = view.timeline.life(f"{view.namespace}/{pod}", t)
    if life is not None and life.deleted is not None and life.deleted <= t:
        return True
    if life is not None and _restart_at(life, t, t) is not None:
        return True
    return routing.left(pod, t) is not None


def _restart_at(life: PodLife, routed_at: float, failed_at: float) -> tuple[float, str, str] | None:
    """The container stop or exit of a pod not being deleted that cut a connection routed at
    ``routed_at`` and failed at ``failed_at``: it came by the failure (give or take the view's
    watch latency), and the pod had not been Ready again since it before the routing. The same
    rule as locally (attribute.classify, rule 5), on the view's moments."""
    stops = [(s.at, s.container, "was being restarted") for s in life.stop_signals]
    stops += [(e.at, e.container, "exited") for e in life.exits]
    for moment, container, what in sorted(stops, reverse=True):
        if life.deleted is not None and moment >= life.deleted - VIEW_SLACK:
            continue
        if moment - VIEW_SLACK <= failed_at and routed_at < (life.ready_again(moment) or failed_at + 1):
            return moment, container, what
    return None


def _failing(
    routing: Routing,
    view: ClusterView,
    routed: tuple[float, float],
    r: RequestResult,
    refused: Refusals | None = None,
) -> tuple[list[str], list[str]]:
    """(every endpoint the proxy may have routed a connection opened within ``routed`` to, those of
    them that could have failed ``r``).

    Routable: in a slice state the proxy may have used then (proxyorder.py: the answers' order, the
    propagation allowance). An endpoint never ready is routed nowhere (kube-proxy skips it), so a
    new pod that is still starting is no candidate. With the measured allowance every failed new
    connection has a failing candidate (``measure_allowance`` takes the largest lag needed).
    """
    routable = sorted(routing.routable(routed[1], since=routed[0]))
    return routable, [p for p in routable if _could_fail(routing, view, p, r, refused)]


def _could_fail(
    routing: Routing, view: ClusterView, pod: str, r: RequestResult, refused: Refusals | None = None
) -> bool:
    """``pod`` was failing when ``r`` failed, and the failure's kind does not rule it out."""
    return _is_failing(routing, view, pod, _failed_at(r)) and could_have_met(view, pod, r, refused)


def _connection_pod(request: RequestResult, earlier: list[RequestResult]) -> str | None:
    """The pod an earlier answer on this same connection named."""
    if not request.reused:
        return None
    for other in reversed(earlier):
        if other.pod is not None:
            return other.pod
        if not other.reused:
            return None  # the connection's first request named no pod
    return None


def _opened(r: RequestResult, earlier: list[RequestResult]) -> tuple[float, float]:
    """When this request's connection may have been opened (and routed): from its first request's
    due time to its send (the connect comes between; they differ when the runner was late)."""
    first = r
    if r.reused:
        for other in reversed(earlier):
            first = other
            if not other.reused:
                break
    return first.intended, first.sent if first.sent is not None else first.intended


def blame(
    requests: list[RequestResult],
    view: ClusterView,
    allowance: float = PROPAGATION_ALLOWANCE,
    single_proxy: bool = True,
    app_peers: Peers | None = None,
) -> list[Blame]:
    """Each failed request's blame. ``single_proxy``: one proxy routes every connection of this
    run (the target is a ClusterIP or one node's NodePort), so the answers' order bounds it.
    ``app_peers``: the client addresses the apps logged (applog.peer_index)."""
    routing = _routing(requests, view, allowance, single_proxy)
    late = Lateness(requests)
    # Each with the requests before it on its connection (the generator's lists grow as it goes).
    failed = [(r, list(earlier)) for r, earlier in _with_connections(requests) if r.failed]
    out = [_blame_one(r, earlier, view, routing, app_peers or {}, late) for r, earlier in failed]
    # The RSTs blamed on a pod say when it was refusing: a time-out then was another's (failkind).
    refused = refusals(
        (r, b.failure.pod.split("/", 1)[-1] if b.failure.pod and b.evidence != UNATTRIBUTED else None)
        for (r, _), b in zip(failed, out, strict=True)
    )
    if not refused:
        return out
    return [_blame_one(r, earlier, view, routing, app_peers or {}, late, refused) for r, earlier in failed]


def _routing(
    requests: list[RequestResult], view: ClusterView, allowance: float, single_proxy: bool
) -> Routing:
    history = versions(view)
    drops = dropped(requests, history, lambda pod: gone_at(view, pod, float("inf"))) if single_proxy else []
    return Routing(history, fresh_answers(requests), allowance, single_proxy, drops)


def _app_log_pod(r: RequestResult, opened_at: float, peers: Peers) -> str | None:
    """The one pod whose log shows a request from this connection's client address, logged
    after the connection opened (a later connection may reuse the port) and before it failed.

    Not for a client on loopback: no Service carries a loopback source into a pod's network
    namespace unrewritten, while the pod's own loopback traffic (probes from inside it, sidecars)
    shows loopback peers whose ports may be this client's too (seen against ``hitless up --api``:
    a readiness probe from 127.0.0.1 on the runner's port, a wrong exact blame)."""
    if r.client is None or _loopback(r.client[0]):
        return None
    until = (r.done if r.done is not None else _failed_at(r)) + CLOCK_SLACK
    pods = {pod for t, pod in peers.get(r.client, []) if opened_at - CLOCK_SLACK <= t <= until}
    return pods.pop() if len(pods) == 1 else None


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _with_connections(requests: list[RequestResult]) -> Iterator[tuple[RequestResult, list[RequestResult]]]:
    """Each request with the earlier ones from the same client address."""
    by_client: dict[tuple[str, int], list[RequestResult]] = {}
    for r in sorted(requests, key=lambda r: r.seq):
        earlier = by_client.setdefault(r.client, []) if r.client is not None else []
        yield r, earlier
        if r.client is not None:
            earlier.append(r)


def _blame_one(
    r: RequestResult,
    earlier: list[RequestResult],
    view: ClusterView,
    routing: Routing,
    peers: Peers,
    late: Lateness,
    refused: Refusals | None = None,
) -> Blame:
    at = r.sent if r.sent is not None else r.intended
    opened = _opened(r, earlier)
    opened_at = opened[1]
    routable, failing = _failing(routing, view, opened, r, refused)
    # A time-out while the runner itself was starved may be its own: no pod is inferred for it,
    # and every routable endpoint stays a candidate (a healthy one too).
    stalled = late.own_timeout(r)
    if stalled is not None:
        failing = []
    # The failed answer itself may name its pod (a 503 from the app).
    pod = r.pod or _connection_pod(r, earlier)
    evidence = EXACT if pod is not None else UNATTRIBUTED
    if pod is None:
        pod = _app_log_pod(r, opened_at, peers)
        evidence = EXACT_APP_LOG if pod is not None else UNATTRIBUTED
    if pod is None and len(failing) == 1:
        pod, evidence = failing[0], INFERRED
    key = f"{view.namespace}/{pod}" if pod else None
    # The pod of that name that existed when the request was sent (a reused name: its own life).
    life = view.timeline.life(key, at) if key else None
    phase = life.phase_at(at) if life is not None else None
    state = view.endpoint_at(pod, at)[0] if pod else None
    retryable = r.retryable_keepalive
    restart = life is not None and (life.deleted is None or life.deleted > _failed_at(r))
    cut = _restart_at(life, opened_at, _failed_at(r)) if life is not None and restart else None
    if pod is None and stalled is not None:
        cause, reason = (
            OTHER,
            f"no attribution: the runner sent requests up to {stalled:.1f} s late while this one was "
            "out: its time-out may be the runner's own",
        )
    elif pod is None:
        cause, reason = (
            OTHER,
            f"no attribution: failing endpoints at send time: {', '.join(failing) or 'none'}",
        )
    elif retryable:
        cause, reason = (
            KEEPALIVE_RESET,
            f"a reused keep-alive connection to {pod} was closed under the request",
        )
    elif life is not None and life.deleted is not None and life.deleted <= _failed_at(r):
        cause = TERMINATING_STILL_ROUTED
        when = (
            f"{at - life.deleted:.2f} s after"
            if at >= life.deleted
            else f"{life.deleted - at:.2f} s before (the watch hears after the kubelet acts)"
        )
        reason = (
            f"sent {when} {pod}'s deletion was seen (endpoint {state}); "
            "the pod stopped serving while traffic was still routed to it"
        )
    elif cut is not None and life is not None:
        # A container stopped or exited without deletion (liveness, startup, a crash): until the
        # pod is Ready again, what the proxies still send it meets a closed listener.
        moment, container, what = cut
        kill = next((k for k in reversed(view.restarts) if k.uid == life.uid and k.at <= moment), None)
        said = f": {kill.message}" if kill is not None and kill.message else ""
        cause = LISTENER_CLOSED
        reason = (
            f"routed to {pod} while its container {container} {what} ({at - moment:+.2f} s from "
            f"its stop{said}; endpoint {state})"
        )
    elif phase is not None and phase != READY and phase != TERMINATING:
        cause, reason = NOT_READY, f"{pod} was {phase} (endpoint {state}) when the request was sent"
    else:
        cause, reason = OTHER, f"{pod} was {phase} (endpoint {state}) when the request was sent"
    failure = Failure(
        seq=r.seq,
        time=r.intended,
        outcome=r.outcome,
        detail=r.detail,
        cause=cause,
        pod=key,
        node=life.node if life is not None else None,
        phase=phase,
        reason=reason,
        retryable=retryable,
        latency=r.latency,
        routed_at=at,
        restart=cut is not None and cause == LISTENER_CLOSED,
    )
    return Blame(failure, evidence, (failing or routable) if evidence == UNATTRIBUTED else [])


@dataclass(frozen=True)
class Allowance:
    """The propagation allowance a run's blame used, and where it came from."""

    seconds: float
    # "measured" (this run's evidence) or "fixed" (PROPAGATION_ALLOWANCE: nothing measured).
    source: str
    # How many observations the measurement took the largest of.
    observations: int = 0
    # The largest of each kind of observation (measure_allowance), for the report.
    largest: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 3),
            "source": self.source,
            "observations": self.observations,
            "largest": {k: round(v, 3) for k, v in self.largest.items()},
        }


def measure_allowance(
    requests: list[RequestResult], view: ClusterView, single_proxy: bool = True
) -> Allowance:
    """The proxies' lag as this run shows it, from both ends of each step of the rollout:

    - ``failedConnections``: for each failed new connection, the least lag that explains it: the
      latest slice state (the answers' order allowing) that routes an endpoint that could have
      failed it (failing then, and of the failure's kind: failkind.py), and how long before the
      send the view had moved past it (``Routing.explain``). A lower bound of one change's lag,
      and only as good as the explanation: a failure a later failing pod explains as well
      (two pods just deleted) measures less than its own lag.
    - ``lateAnswers``: how late a replaced pod still answered a new connection (lag.propagation),
      a lower bound of one change's lag.
    - ``firstAnswers``: how late a new pod first answered a new connection (lag.arrivals): the lag
      of the sync that made it ready, which in a rollout also removes the old endpoint deleted
      right after it.

    The largest is this run's measured lag, never less than ``MIN_ALLOWANCE``; with none, the
    fixed ``PROPAGATION_ALLOWANCE``.
    """
    routing = _routing(requests, view, 0.0, single_proxy)
    late = Lateness(requests)
    explained: list[float] = []
    for r in requests:
        if not r.failed or r.reused or r.sent is None or late.own_timeout(r) is not None:
            continue
        found = routing.explain(r.sent, functools.partial(_could_fail, routing, view, r=r))
        if found is not None:
            explained.append(found[0])
    kinds = {
        "failedConnections": explained,
        "lateAnswers": list(propagation(requests, view).values()),
        "firstAnswers": list(arrivals(requests, view).values()),
    }
    lags = [lag for values in kinds.values() for lag in values]
    if not lags:
        return Allowance(PROPAGATION_ALLOWANCE, "fixed")
    largest = {kind: max(values) for kind, values in kinds.items() if values}
    return Allowance(max(*lags, MIN_ALLOWANCE), "measured", len(lags), largest)
