"""Attribution: every failed request gets a cause, a pod, a node, a time and the pod's phase.

A pure function of what was measured: the requests (``generator.RequestResult``), the hops'
connection records (``proxy.records``) and the pods' timeline. A request is joined to the first
hop's record by its client address, and hop to hop by ``upstream`` = next ``client``; the last hop
names the node and the pod. The cause comes from where that pod was in its life when the
connection was routed and when it failed; the rules are in docs/verify.md and below, in order.
Findings (``findings.py``) turn the causes into manifest fields and values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from hitless.proxy.records import ConnectionRecord
from hitless.verify.generator import RequestResult
from hitless.verify.join import SLACK, Route, join
from hitless.verify.timeline import Timeline

NOT_READY = "not-ready"
NOT_LISTENING = "not-listening"
TERMINATING_STILL_ROUTED = "terminating-still-routed"
LISTENER_CLOSED = "listener-closed"
KILLED_IN_FLIGHT = "killed-in-flight"
LOCAL_NO_ENDPOINT = "local-no-endpoint"
KEEPALIVE_RESET = "keepalive-reset"
CAPACITY = "capacity"
OTHER = "other"

CAUSES = (
    NOT_READY,
    NOT_LISTENING,
    TERMINATING_STILL_ROUTED,
    LISTENER_CLOSED,
    KILLED_IN_FLIGHT,
    LOCAL_NO_ENDPOINT,
    KEEPALIVE_RESET,
    CAPACITY,
    OTHER,
)


@dataclass
class Failure:
    seq: int
    # Engine clock seconds: when the request was due (its latency counts from here).
    time: float
    outcome: str
    detail: str
    cause: str
    pod: str | None
    node: str | None
    # The pod's phase when the connection was routed (timeline.py's names), None without a pod.
    phase: str | None
    # Why this cause, in a sentence, with the measured numbers.
    reason: str
    # Failed on a reused keep-alive connection before any response byte (clients retry those).
    retryable: bool = False
    latency: float | None = None
    routed_at: float | None = None
    # The pod was not being deleted: one of its containers was restarted (or exited).
    restart: bool = False


@dataclass
class RunContext:
    """What attribution needs to know of the manifests."""

    service: str = ""  # "namespace/name"
    pods: set[str] | None = None  # the pods the Service selects (None: every pod in the timeline)
    desired_replicas: int | None = None
    # The workload that owns the pods, for field paths: ("Deployment", "web") or ("Pod", "web-1").
    workload: tuple[str, str] | None = None
    strategy: str | None = None  # Deployment spec.strategy.type
    external_traffic_policy: str | None = None
    publish_not_ready_addresses: bool = False
    # Filled after the run, for findings: the longest a successful request took (seconds).
    longest_ok: float | None = None
    # The load balancer's health-check detection time (interval x unhealthy threshold), if any.
    lb_detection: float | None = None


@dataclass
class Attribution:
    routes: list[Route] = field(default_factory=list)  # one per request, same order
    failures: list[Failure] = field(default_factory=list)


def attribute(
    requests: list[RequestResult],
    records: Iterable[ConnectionRecord],
    timeline: Timeline,
    context: RunContext | None = None,
) -> Attribution:
    context = context or RunContext()
    routes = join(requests, records)
    result = Attribution(routes=routes)
    ok = [r.latency for r in requests if not r.failed and r.latency is not None]
    if ok and context.longest_ok is None:
        context.longest_ok = max(ok)
    served = _first_served(requests, routes)
    for request, route in zip(requests, routes, strict=True):
        if request.failed:
            result.failures.append(classify(request, route, timeline, context, served))
    return result


def _first_served(requests: list[RequestResult], routes: list[Route]) -> dict[str, float]:
    """When each pod first answered a request (proof that its listener was up)."""
    first: dict[str, float] = {}
    for request, route in zip(requests, routes, strict=True):
        if request.failed or route.pod is None or request.done is None:
            continue
        if route.pod not in first or request.done < first[route.pod]:
            first[route.pod] = request.done
    return first


def classify(
    request: RequestResult,
    route: Route,
    timeline: Timeline,
    context: RunContext,
    served: dict[str, float],
) -> Failure:
    last = route.last
    routed_at = last.accepted_at if last is not None else None
    at = routed_at if routed_at is not None else (request.sent or request.intended)
    life = timeline.life(route.pod, at) if route.pod else None
    failed_at = request.done if request.done is not None else at
    # On a reused keep-alive connection the request came long after the routing: its phase is
    # the pod's when the request was sent.
    phase = life.phase_at(max(at, request.sent or at)) if life is not None else None

    def failure(cause: str, reason: str) -> Failure:
        return Failure(
            seq=request.seq,
            time=request.intended,
            outcome=request.outcome,
            detail=request.detail,
            cause=cause,
            pod=route.pod,
            node=route.node,
            phase=phase,
            reason=reason,
            retryable=request.retryable_keepalive,
            latency=request.latency,
            routed_at=routed_at,
        )

    # 1. SIGKILL at the grace deadline while this connection was open.
    if life is not None and last is not None:
        kill = life.kill()
        if (
            kill is not None
            and (last.connected_at or last.accepted_at) <= kill.at + SLACK <= failed_at + 2 * SLACK
        ):
            grace = f" ({life.grace} s after deletion)" if life.grace is not None else ""
            return failure(
                KILLED_IN_FLIGHT,
                f"{life.name} was SIGKILLed at its grace deadline{grace} with this request in flight",
            )
    # 2. A reused keep-alive connection failing before any response byte: clients retry those.
    if request.retryable_keepalive:
        return failure(KEEPALIVE_RESET, "a reused keep-alive connection was closed before any response byte")
    # 3. No hop took the connection, or the last hop had nowhere to send it.
    if last is None:
        return _unrecorded(request, at, timeline, context, failure)
    late = _through_a_drop(request, route, timeline, failure)
    if late is not None:
        return late
    if last.outcome == "dropped":
        return failure(LOCAL_NO_ENDPOINT, f"{last.node} had no local endpoint and dropped the connection")
    if last.outcome == "refused":
        ready = timeline.ready_count(at, context.pods)
        return failure(
            CAPACITY, f"{last.node or 'the load balancer'} had no usable endpoint ({ready} ready pods)"
        )
    if last.hop == "load-balancer" and last.node is not None:
        # The chosen node never took the connection while the client waited (no record of it
        # there: the load balancer's dial failed, or connected only once the node routed again,
        # its SYN retransmitted after the client had given up): it drops (Local, no local
        # endpoint) or refuses.
        view = timeline.view(last.node, at)
        if view is not None and view.external_mode == "drop":
            return failure(
                LOCAL_NO_ENDPOINT,
                f"the load balancer sent the connection to {last.node}, which had no local endpoint "
                f"and dropped it",
            )
        if view is not None and view.external_mode == "refuse":
            ready = timeline.ready_count(at, context.pods)
            return failure(CAPACITY, f"{last.node} had no usable endpoint ({ready} ready pods)")
    if last.hop == "load-balancer":
        return failure(
            OTHER,
            f"the load balancer sent the connection to {last.node or 'no node'}, which has no record "
            f"of taking it while the client waited, and was routing then",
        )
    if life is None:
        return failure(
            OTHER, f"routed to {last.pod or 'an unknown endpoint'}, which the timeline does not know"
        )
    name, node = life.name, last.node
    # A terminating pod chosen because nothing ready was left: kube-proxy's serving-terminating
    # fallback. The cause is the missing ready endpoint, not the pod's shutdown.
    view = timeline.view(node, at) if node is not None else None
    external = last.frontend in ("nodePort", "loadBalancer")
    if view is not None and (view.external_fallback if external else view.internal_fallback):
        if external and context.external_traffic_policy == "Local":
            return failure(
                LOCAL_NO_ENDPOINT,
                f"{node} had no ready local endpoint and fell back to the terminating {name}, which "
                f"stopped serving; the load balancer still sent to {node}",
            )
        ready = timeline.ready_count(at, context.pods)
        return failure(
            CAPACITY,
            f"{node} had no ready endpoint ({ready} ready pods) and fell back to the terminating "
            f"{name}, which stopped serving",
        )
    # 4. The pod was being deleted.
    stop = life.termination_stop()
    if life.deleted is not None and at >= life.deleted - SLACK:
        if stop is not None and at >= stop.at - SLACK:
            return failure(
                TERMINATING_STILL_ROUTED,
                f"{node} routed to {name} {at - stop.at:.2f} s after its stop signal "
                f"({at - life.deleted:.2f} s after deletion)",
            )
        if stop is not None and failed_at >= stop.at - SLACK:
            return failure(
                LISTENER_CLOSED, f"{name} stopped serving at its stop signal with this request in flight"
            )
        first = served.get(life.key)
        if request.status is None and request.error in ("refused", "reset") and (first is None or first > at):
            return failure(NOT_LISTENING, f"{node} routed to {name}, which had never accepted connections")
        return failure(OTHER, f"{name} failed while terminating, before its stop signal (during preStop)")
    if life.deleted is not None and stop is not None and at < life.deleted <= failed_at:
        # Routed before the deletion, cut after its stop signal: an app that does not drain.
        return failure(
            LISTENER_CLOSED, f"{name} stopped serving at its stop signal with this request in flight"
        )
    # 5. A container stopped or exited without deletion (liveness, startup, a crash): until the
    # pod is Ready again, what its proxies still send it meets a closed or not yet open listener.
    stops = [(s.at, s.container, "was being restarted") for s in life.stop_signals]
    stops += [(e.at, e.container, "exited") for e in life.exits]
    for moment, container, what in sorted(stops, reverse=True):
        if life.deleted is not None and moment >= life.deleted - SLACK:
            continue
        if moment - SLACK <= failed_at and at < (life.ready_again(moment) or failed_at + 1):
            cut = failure(LISTENER_CLOSED, f"{node} routed to {name} while its container {container} {what}")
            cut.restart = True
            return cut
    # 6. Readiness.
    if not life.ready_at(at):
        return failure(NOT_READY, f"{node} routed to {name} while it was not Ready ({phase})")
    first_ok = served.get(life.key)
    nothing_answered = request.status is None and request.error in ("refused", "reset")
    if nothing_answered and (first_ok is None or first_ok > at):
        became = life.first_ready()
        since = f" {at - became:.2f} s after it became Ready" if became is not None else ""
        return failure(NOT_LISTENING, f"{node} routed to {name}{since}, before it accepted connections")
    if nothing_answered:
        return failure(LISTENER_CLOSED, f"{name} had served, then refused or reset this connection")
    # 7. Slow or erroring answers while too few pods were ready.
    ready_now = timeline.ready_count(at, context.pods)
    if context.desired_replicas is not None and ready_now < context.desired_replicas:
        return failure(CAPACITY, f"{ready_now} of {context.desired_replicas} pods were ready")
    return failure(OTHER, f"{name} answered {request.outcome} while Ready")


def _through_a_drop(
    request: RequestResult, route: Route, timeline: Timeline, failure: Callable[[str, str], Failure]
) -> Failure | None:
    """A timeout whose load balancer dialled a node that was dropping (Local, no local endpoint),
    though the connection reached a pod in the end: a retransmitted SYN went through once the
    node routed again (1 s, 3 s after the first), when the client had waited out its timeout or
    most of it. The cause is the drop, not the pod the connection reached too late."""
    lb = route.load_balancer
    if request.error != "timeout" or lb is None or lb.node is None or route.last is lb:
        return None
    view = timeline.view(lb.node, lb.accepted_at)
    if view is None or view.external_mode != "drop":
        return None
    through = lb.connected_at if lb.connected_at is not None else route.hops[-1].accepted_at
    dropped = failure(
        LOCAL_NO_ENDPOINT,
        f"the load balancer sent the connection to {lb.node}, which had no local endpoint and "
        f"dropped it; a retransmitted SYN got through {through - lb.accepted_at:.2f} s later "
        f"({through - request.intended:.2f} s after the request was due), once it routed again",
    )
    dropped.pod, dropped.phase, dropped.routed_at = None, None, lb.accepted_at
    return dropped


def _unrecorded(
    request: RequestResult,
    at: float,
    timeline: Timeline,
    context: RunContext,
    failure: Callable[[str, str], Failure],
) -> Failure:
    """No hop has a record: the frontend itself refused (REJECT) or dropped (DROP) the connect."""
    # The connect was refused somewhere between the intended time and the outcome.
    moments = (at, request.done if request.done is not None else at)
    views = [v for t in moments for v in (timeline.view(node, t) for node in timeline.views) if v is not None]
    modes = {v.internal_mode for v in views if v.internal_mode} | {
        v.external_mode for v in views if v.external_mode
    }
    ready = timeline.ready_count(at, context.pods)
    if request.sent is None and request.error in ("refused", "reset") and ("refuse" in modes or ready == 0):
        return failure(
            CAPACITY, f"the Service had no usable endpoint and refused the connection ({ready} ready pods)"
        )
    if request.sent is None and request.error == "timeout" and "drop" in modes:
        return failure(LOCAL_NO_ENDPOINT, "no local endpoint: the node dropped the connection")
    return failure(OTHER, "no hop recorded this connection")
