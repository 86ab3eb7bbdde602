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

import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from hitless.api.types.pod import Pod
from hitless.verify.applog import CLOCK_SLACK
from hitless.verify.attribute import (
    KEEPALIVE_RESET,
    NOT_READY,
    OTHER,
    TERMINATING_STILL_ROUTED,
    Failure,
)
from hitless.verify.generator import RequestResult
from hitless.verify.proxyorder import Routing, fresh_answers, versions
from hitless.verify.timeline import READY, TERMINATING, StopSignal, Timeline

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


@dataclass
class EndpointState:
    at: float
    # "ready", "terminating" (serving or not), "not-ready", or "absent" (left every slice).
    state: str


@dataclass
class ClusterView:
    """What the Pod and EndpointSlice watches delivered, stamped with the runner's clock."""

    namespace: str
    timeline: Timeline = field(default_factory=Timeline)
    endpoints: dict[str, list[EndpointState]] = field(default_factory=dict)
    _slices: dict[str, dict[str, str]] = field(default_factory=dict)
    # Called with (pod, first container) when a pod is first seen running: its log can be read.
    on_running: Callable[[str, str], None] | None = None

    def on_pod(self, kind: str, obj: dict[str, Any], at: float) -> None:
        meta = obj.get("metadata", {})
        name = meta.get("name", "")
        life = self.timeline.ensure(self.namespace, name)
        if kind == "DELETED":
            life.gone = life.gone or at
            return
        life.uid = meta.get("uid")
        life.labels = meta.get("labels") or {}
        life.node = obj.get("spec", {}).get("nodeName") or life.node
        life.ip = obj.get("status", {}).get("podIP") or life.ip
        if life.created is None:
            life.created = at
        with contextlib.suppress(ValueError):
            life.pod = Pod.model_validate(obj)
        if meta.get("deletionTimestamp") and life.deleted is None:
            life.deleted = at
            life.grace = meta.get("deletionGracePeriodSeconds")
            # No API object carries the stop signal's moment: it is estimated as the deletion
            # plus the preStop sleep (exact for the sleep action), as clusters.md §4.3 says.
            life.stop_signals.append(StopSignal(at + _pre_stop(life.pod), "", float(life.grace or 30)))
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in obj.get("status", {}).get("conditions") or []
        )
        if not life.started and obj.get("status", {}).get("phase") == "Running":
            life.started.append((at, ""))
            containers = obj.get("spec", {}).get("containers") or [{}]
            if self.on_running is not None and containers[0].get("name"):
                self.on_running(name, containers[0]["name"])
        open_ = life.ready and life.ready[-1][1] is None
        if ready and not open_:
            life.ready.append([at, None])
        elif not ready and open_:
            life.ready[-1][1] = at

    def on_slice(self, kind: str, obj: dict[str, Any], at: float) -> None:
        name = obj.get("metadata", {}).get("name", "")
        states: dict[str, str] = {}
        if kind != "DELETED":
            for ep in obj.get("endpoints") or []:
                pod = (ep.get("targetRef") or {}).get("name")
                if not pod:
                    continue
                cond = ep.get("conditions") or {}
                if cond.get("terminating"):
                    states[pod] = "terminating"
                elif cond.get("ready", True):
                    states[pod] = "ready"
                else:
                    states[pod] = "not-ready"
        before = self._slices.get(name, {})
        self._slices[name] = states
        for pod in set(before) | set(states):
            now = self._state(pod)
            history = self.endpoints.setdefault(pod, [])
            if not history or history[-1].state != now:
                history.append(EndpointState(at, now))

    def _state(self, pod: str) -> str:
        seen = [s[pod] for s in self._slices.values() if pod in s]
        for state in ("ready", "not-ready", "terminating"):
            if state in seen:
                return state
        return "absent"

    def endpoint_at(self, pod: str, t: float) -> tuple[str, float | None]:
        """The endpoint's state at ``t`` and since when it is so."""
        state, since = "absent", None
        for change in self.endpoints.get(pod, []):
            if change.at > t:
                break
            state, since = change.state, change.at
        return state, since


def _pre_stop(pod: Pod | None) -> float:
    if pod is None:
        return 0.0
    for c in pod.spec.containers:
        handler = c.lifecycle.pre_stop if c.lifecycle is not None else None
        if handler is not None and handler.sleep is not None:
            return float(handler.sleep.seconds)
        argv = handler.exec.command if handler is not None and handler.exec is not None else None
        if argv and len(argv) >= 2 and argv[-2].endswith("sleep"):
            try:
                return float(argv[-1])
            except ValueError:
                return 0.0
    return 0.0


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
    """Deleted by ``t``, or routable before and not at ``t`` (its readiness failed, it turned
    terminating, it left the slice). A pod not ready yet is not failing: no proxy routes to it
    before it turns ready."""
    life = view.timeline.life(f"{view.namespace}/{pod}")
    if life is not None and life.deleted is not None and life.deleted <= t:
        return True
    return routing.left(pod, t) is not None


def _failing(
    routing: Routing, view: ClusterView, routed_at: float, failed_at: float
) -> tuple[list[str], list[str]]:
    """(every endpoint the proxy may have routed a connection opened at ``routed_at`` to, those of
    them failing at ``failed_at``).

    Routable: in a slice state the proxy may have used then (proxyorder.py: the answers' order, the
    propagation allowance). An endpoint never ready is routed nowhere (kube-proxy skips it), so a
    new pod that is still starting is no candidate. With the measured allowance every failed new
    connection has a failing candidate (``measure_allowance`` takes the largest lag needed).
    """
    routable = sorted(routing.routable(routed_at))
    return routable, [p for p in routable if _is_failing(routing, view, p, failed_at)]


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


def _opened_at(r: RequestResult, earlier: list[RequestResult]) -> float:
    """When this request's connection was opened (and routed): its first request's send time."""
    first = r
    if r.reused:
        for other in reversed(earlier):
            first = other
            if not other.reused:
                break
    return first.sent if first.sent is not None else first.intended


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
    routing = Routing(versions(view), fresh_answers(requests), allowance, single_proxy)
    out: list[Blame] = []
    for r, earlier in _with_connections(requests):
        if r.failed:
            out.append(_blame_one(r, earlier, view, routing, app_peers or {}))
    return out


def _app_log_pod(r: RequestResult, opened_at: float, peers: Peers) -> str | None:
    """The one pod whose log shows a request from this connection's client address, logged
    after the connection opened (a later connection may reuse the port) and before it failed."""
    if r.client is None:
        return None
    until = (r.done if r.done is not None else _failed_at(r)) + CLOCK_SLACK
    pods = {pod for t, pod in peers.get(r.client, []) if opened_at - CLOCK_SLACK <= t <= until}
    return pods.pop() if len(pods) == 1 else None


def _with_connections(requests: list[RequestResult]) -> Iterator[tuple[RequestResult, list[RequestResult]]]:
    """Each request with the earlier ones from the same client address."""
    by_client: dict[tuple[str, int], list[RequestResult]] = {}
    for r in sorted(requests, key=lambda r: r.seq):
        earlier = by_client.setdefault(r.client, []) if r.client is not None else []
        yield r, earlier
        if r.client is not None:
            earlier.append(r)


def _blame_one(
    r: RequestResult, earlier: list[RequestResult], view: ClusterView, routing: Routing, peers: Peers
) -> Blame:
    at = r.sent if r.sent is not None else r.intended
    opened_at = _opened_at(r, earlier)
    routable, failing = _failing(routing, view, opened_at, _failed_at(r))
    # The failed answer itself may name its pod (a 503 from the app).
    pod = r.pod or _connection_pod(r, earlier)
    evidence = EXACT if pod is not None else UNATTRIBUTED
    if pod is None:
        pod = _app_log_pod(r, opened_at, peers)
        evidence = EXACT_APP_LOG if pod is not None else UNATTRIBUTED
    if pod is None and len(failing) == 1:
        pod, evidence = failing[0], INFERRED
    key = f"{view.namespace}/{pod}" if pod else None
    life = view.timeline.life(key) if key else None
    phase = life.phase_at(at) if life is not None else None
    state = view.endpoint_at(pod, at)[0] if pod else None
    retryable = r.retryable_keepalive
    if pod is None:
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
    )
    return Blame(failure, evidence, (failing or routable) if evidence == UNATTRIBUTED else [])


def propagation(requests: list[RequestResult], view: ClusterView) -> dict[str, float]:
    """Per replaced pod: how long after its endpoint stopped being ready (in this view) a *new*
    connection still reached it, and it answered (it names itself).

    A new connection goes where a node's proxy routes it at that moment, so this is a lower bound
    of this cluster's propagation delay, measured rather than assumed: the preStop sleep a pod
    needs is at least this long. Only pods that kept serving after their endpoint changed give a
    number (a pod that stops at once answers nothing late).
    """
    out: dict[str, float] = {}
    for r in requests:
        if r.pod is None or r.reused or r.failed or r.sent is None:
            continue
        changed = _stopped_ready(view, r.pod)
        if changed is not None and r.sent > changed:
            out[r.pod] = max(out.get(r.pod, 0.0), round(r.sent - changed, 3))
    return dict(sorted(out.items()))


def _stopped_ready(view: ClusterView, pod: str) -> float | None:
    """When the pod's endpoint last stopped being ready, if it was replaced (deleted)."""
    life = view.timeline.life(f"{view.namespace}/{pod}")
    if life is None or life.deleted is None:
        return None
    history = view.endpoints.get(pod, [])
    for i, change in enumerate(history[1:], start=1):
        if history[i - 1].state == "ready" and change.state != "ready":
            return change.at
    return None


@dataclass(frozen=True)
class Allowance:
    """The propagation allowance a run's blame used, and where it came from."""

    seconds: float
    # "measured" (this run's evidence) or "fixed" (PROPAGATION_ALLOWANCE: nothing measured).
    source: str
    # How many observations the measurement took the largest of.
    observations: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"seconds": round(self.seconds, 3), "source": self.source, "observations": self.observations}


def measure_allowance(
    requests: list[RequestResult], view: ClusterView, single_proxy: bool = True
) -> Allowance:
    """The least allowance that explains every failed new connection of this run: for each, the
    latest slice state (the answers' order allowing) that routes an endpoint failing then, and how
    long before the send the view had moved past it (``Routing.explain``); and how late a
    replaced pod still answered a new connection (``propagation``). Each is a lower bound of one
    change's lag, so their largest is this run's measured lag; with none, the fixed
    ``PROPAGATION_ALLOWANCE``.
    """
    routing = Routing(versions(view), fresh_answers(requests), 0.0, single_proxy)
    lags: list[float] = list(propagation(requests, view).values())
    for r in requests:
        if not r.failed or r.reused or r.sent is None:
            continue
        explained = routing.explain(r.sent, functools.partial(_is_failing, routing, view, t=_failed_at(r)))
        if explained is not None:
            lags.append(explained[0])
    if not lags:
        return Allowance(PROPAGATION_ALLOWANCE, "fixed")
    return Allowance(max(lags), "measured", len(lags))
