"""Which endpoints one proxy could route a new connection to at a moment, from evidence.

The premise, checked upstream: kube-proxy applies the EndpointSlice changes its informer delivered
in the order delivered, and programs all of them at once per sync. kubernetes/kubernetes
``pkg/proxy/endpointschangetracker.go`` (``EndpointSliceUpdate`` records each delivered slice in
the pending changes; ``checkoutChanges`` hands all of them to the next sync) and
``pkg/proxy/iptables/proxier.go`` ``syncProxyRules`` (``proxier.endpointsMap.Update(
proxier.endpointsChanges)``, then one ``iptables-restore`` of the rules, atomic per table; the
nftables proxier writes one ``nft`` transaction). So a node's proxy routes a new connection at
``t`` by the slice state of some moment ``s(t) <= t``, and ``s`` never goes back. hitless's node
proxy keeps the same order (proxy/node.py: ``_deliver`` never lets a change overtake an earlier
one; ``sync`` rebuilds every frontend from its whole slice cache).

A *version* is one slice state of the watch view, in arrival order (the informer's order too).
Bounds on the version ``v(t)`` a proxy used for a new connection at ``t``:

- answers (only where ONE proxy routes every connection: a ClusterIP from here, or one node's
  NodePort; a LoadBalancer spreads connections over nodes, each with its own lag): a new
  connection at ``t0`` answered by pod ``P`` means ``P`` was routable in ``v(t0)``. For ``t > t0``
  then ``v(t) >= v(t0) >=`` the first version (at or after the bound so far) routing ``P``; for
  ``t < t0``, ``v(t) <=`` the last version routing ``P``.
- lag: the proxy has applied what the view saw ``allowance`` seconds ago, and nothing the view
  had not seen yet (give or take ``VIEW_SLACK``, the view's own watch latency).

A pure function of the recorded view and the answers, tested on synthetic timelines.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hitless.verify.failkind import answered_by_rst
from hitless.verify.generator import RequestResult

if TYPE_CHECKING:
    from hitless.verify.clusterrecord import ClusterView

# The view (this machine's watch) may hear of a slice change after a node's proxy did: a version
# seen up to this long after ``t`` may already have been in use at ``t``.
VIEW_SLACK = 0.25
# Two new connections sent this close may have been routed in the other order (the proxy decides
# at accept, a little before the request's bytes are written).
ORDER_SLACK = 0.1
# The chance left that a proxy still routed a gone pod after a run of successful new connections
# (``dropped``).
QUIET_CHANCE = 0.001


@dataclass(frozen=True)
class Version:
    at: float
    routable: frozenset[str]


def versions(view: ClusterView) -> list[Version]:
    """The view's successive slice states, each as the endpoints a proxy routes to in it: the
    ready ones, else the terminating ones (KEP-1669's serving-terminating fallback; the view does
    not keep ``serving``, so every terminating one counts)."""
    out: list[Version] = []
    for t in sorted({c.at for history in view.endpoints.values() for c in history}):
        states = {pod: view.endpoint_at(pod, t)[0] for pod in view.endpoints}
        ready = {p for p, s in states.items() if s == "ready"}
        out.append(Version(t, frozenset(ready or {p for p, s in states.items() if s == "terminating"})))
    return out


def fresh_answers(requests: list[RequestResult]) -> list[tuple[float, str]]:
    """(send time, pod) of every new connection that a pod answered and named."""
    return sorted(
        (r.sent, r.pod)
        for r in requests
        if r.pod is not None and not r.reused and not r.failed and r.sent is not None
    )


def dropped(
    requests: list[RequestResult], history: list[Version], gone: Callable[[str], float | None]
) -> list[tuple[float, str]]:
    """(moment, pod) for each pod that the proxy had stopped routing by that moment, as the
    silence shows.

    A proxy picks among its endpoints at random for each new connection (iptables' ``statistic``
    rule, nftables' ``numgen random``, hitless's proxy alike; IPVS's round robin is stricter still).
    A proxy that routed the pod at some moment had routed it all along since it first reached it
    (it moves forward in slice order), so each new connection in between had a chance of
    ``1/endpoints`` to go to it. A new connection known to have gone elsewhere (another pod named
    itself in the answer, or it succeeded after the pod's network was gone: ``gone``, failkind.py)
    missed it; ``quiet`` of them in a row would all have missed it with a chance below
    ``QUIET_CHANCE`` had it still been routed. A failure, or an answer naming no pod, breaks the
    run (it may have been the pod's). A statistical bound, not a proof, hence ``inferred``. Only
    where one proxy routes every connection.
    """
    fresh = sorted(
        ((r.sent, r.seq, r) for r in requests if not r.reused and r.sent is not None), key=lambda x: x[:2]
    )
    reached: dict[str, float] = {}
    for sent, _, r in fresh:
        if r.pod is not None and not r.failed:
            reached.setdefault(r.pod, sent)
    out: list[tuple[float, str]] = []
    for pod in sorted({p for v in history for p in v.routable}):
        first = reached.get(pod)
        sizes = [len(v.routable) for v in history if pod in v.routable]
        if first is None or not sizes:
            continue
        at = gone(pod)
        after = [(sent, r) for sent, _, r in fresh if sent > first]
        need, run = quiet(max(sizes), len(after)), 0
        for sent, r in after:
            elsewhere = r.pod is not None and r.pod != pod
            after_gone = at is not None and sent > at
            missed = elsewhere or (after_gone and (not r.failed or answered_by_rst(r)))
            run = run + 1 if missed else 0
            if run >= need:
                out.append((sent, pod))
                break
    return sorted(out)


def quiet(endpoints: int, sends: int) -> int:
    """How long a run of successful new connections must be for a proxy choosing among
    ``endpoints`` at random, and still routing a failing one, to make one anywhere among ``sends``
    new connections with a chance below ``QUIET_CHANCE``: ``n`` given connections all miss it
    with a chance of ``(1 - 1/endpoints)**n``, and a run may start at any of the ``sends``."""
    if endpoints <= 1:
        return 1
    return math.ceil(math.log(QUIET_CHANCE / max(sends, 1)) / math.log(1 - 1 / endpoints))


@dataclass
class Routing:
    """Bounds on the version one proxy (or, ``single_proxy`` false, any proxy) used at a moment."""

    history: list[Version]
    answers: list[tuple[float, str]]
    allowance: float
    single_proxy: bool = True
    # (moment, pod): by then the proxy no longer routed ``pod`` (``dropped``).
    drops: list[tuple[float, str]] = field(default_factory=list)
    _times: list[float] = field(default_factory=list)
    _lower_at: list[float] = field(default_factory=list)
    _lower: list[int] = field(default_factory=list)
    _upper_at: list[float] = field(default_factory=list)
    _upper: list[int] = field(default_factory=list)
    # Per endpoint: the versions at which it stopped being routable.
    _stops: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._times = [v.at for v in self.history]
        for i in range(1, len(self.history)):
            for pod in self.history[i - 1].routable - self.history[i].routable:
                self._stops.setdefault(pod, []).append(i)
        if not self.single_proxy:
            return
        bound = 0
        events = sorted(
            [(t, pod, True) for t, pod in self.answers] + [(t, pod, False) for t, pod in self.drops]
        )
        for sent, pod, answered in events:
            seen = self.seen(sent + VIEW_SLACK)
            if answered:
                found = next((i for i in range(bound, seen + 1) if pod in self.history[i].routable), None)
            else:
                found = next((i for i in range(bound, seen + 1) if pod not in self.history[i].routable), None)
            if found is not None:  # else the view missed it (a watch gap): no evidence
                bound = max(bound, found)
            self._lower_at.append(sent)
            self._lower.append(bound)
        upper: list[tuple[float, int]] = []
        ceiling = math.inf
        for sent, pod in reversed(self.answers):
            seen = self.seen(sent + VIEW_SLACK)
            last = next((i for i in range(seen, -1, -1) if pod in self.history[i].routable), None)
            if last is not None:
                ceiling = min(ceiling, last)
            upper.append((sent, int(ceiling) if ceiling != math.inf else len(self.history)))
        upper.reverse()
        self._upper_at = [s for s, _ in upper]
        self._upper = [u for _, u in upper]

    def seen(self, t: float) -> int:
        """The index of the last version the view had at ``t`` (-1: none yet)."""
        return bisect.bisect_right(self._times, t) - 1

    def _by_answers(self, t: float) -> tuple[int, int]:
        """(lowest, highest) version the proxy may have used at ``t`` by the answers and the view
        alone, with no allowance for its lag."""
        upper = self.seen(t + VIEW_SLACK)
        i = bisect.bisect_left(self._upper_at, t + ORDER_SLACK)
        if i < len(self._upper):
            upper = min(upper, self._upper[i])
        lower = 0
        j = bisect.bisect_right(self._lower_at, t - ORDER_SLACK) - 1
        if j >= 0:
            lower = self._lower[j]
        return lower, upper

    def bounds(self, t: float) -> tuple[int, int]:
        """(lowest, highest) version the proxy may have used at ``t``."""
        lower, upper = self._by_answers(t)
        # Strictly before: a version seen exactly ``allowance`` ago may not be applied yet.
        by_lag = max(bisect.bisect_left(self._times, t - self.allowance) - 1, 0)
        if lower > upper:  # the answers contradict the view (a gap): trust the clock only
            return min(by_lag, upper), upper
        return max(lower, by_lag), upper

    def routable(self, t: float, since: float | None = None) -> set[str]:
        """Every endpoint the proxy may have routed a new connection at ``t`` (or at some moment
        from ``since`` to ``t``) to."""
        lower, upper = self.bounds(t)
        if since is not None and since < t:
            lower = min(lower, self.bounds(since)[0])
        out: set[str] = set()
        for v in self.history[lower : upper + 1]:
            out |= v.routable
        return out

    def explain(self, t: float, failing: Callable[[str], bool]) -> tuple[float, set[str]] | None:
        """The least lag that lets a failing endpoint have been routed a new connection at ``t``,
        and the failing endpoints of that version: the latest version (the answers allowing)
        that routes one. None if no version does."""
        lower, upper = self._by_answers(t)
        if lower > upper:
            lower = 0
        for v in range(upper, lower - 1, -1):
            pods = {p for p in self.history[v].routable if failing(p)}
            if pods:
                seen = self.seen(t)
                lag = t - self.history[v + 1].at if v < seen else 0.0
                return lag, pods
        return None

    def left(self, pod: str, t: float) -> float | None:
        """When the view saw ``pod`` stop being routable, if it was not routable any more at ``t``."""
        seen = self.seen(t)
        if seen < 0 or pod in self.history[seen].routable:
            return None
        stops = self._stops.get(pod, [])
        i = bisect.bisect_right(stops, seen) - 1
        return self.history[stops[i]].at if i >= 0 else None
