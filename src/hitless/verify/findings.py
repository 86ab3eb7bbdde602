"""Findings: from causes to the manifest field to change and the value that covers what was measured."""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from dataclasses import dataclass

from hitless.api.types.pod import Container
from hitless.verify.attribute import (
    CAPACITY,
    KEEPALIVE_RESET,
    KILLED_IN_FLIGHT,
    LISTENER_CLOSED,
    LOCAL_NO_ENDPOINT,
    NOT_LISTENING,
    NOT_READY,
    TERMINATING_STILL_ROUTED,
    Failure,
    RunContext,
)
from hitless.verify.timeline import PodLife, Timeline


@dataclass
class Finding:
    cause: str
    # "Deployment/web", "Service/web", ... (None when no manifest field fixes it).
    object: str | None
    field: str | None
    value: str | None
    message: str
    failures: int
    measured: dict[str, float] = dataclasses.field(default_factory=dict)


def findings(failures: list[Failure], timeline: Timeline, context: RunContext) -> list[Finding]:
    by_cause: dict[str, list[Failure]] = defaultdict(list)
    for f in failures:
        by_cause[f.cause].append(f)
    out: list[Finding] = []
    restarts = [f for f in by_cause.get(LISTENER_CLOSED, []) if f.restart]
    if restarts:
        out.append(_restart(restarts, timeline, context))
        by_cause[LISTENER_CLOSED] = [f for f in by_cause[LISTENER_CLOSED] if not f.restart]
    for cause, group in by_cause.items():
        if not group:
            continue
        rule = _RULES.get(cause)
        if rule is not None:
            finding = rule(group, timeline, context)
            if finding is not None:
                out.append(finding)
    return out


def _workload(context: RunContext, timeline: Timeline, failures: list[Failure]) -> tuple[str, str]:
    if context.workload is not None:
        kind, name = context.workload
        return f"{kind}/{name}", "spec.template.spec." if kind != "Pod" else "spec."
    pod = next((f.pod for f in failures if f.pod), None)
    return (f"Pod/{pod.split('/')[-1]}" if pod else "Pod/?"), "spec."


def _container(life: PodLife | None) -> tuple[int, Container | None]:
    found = life.container_spec() if life is not None else None
    return (found[0], found[1]) if found is not None else (0, None)


def _pre_stop_seconds(container: Container | None) -> float:
    """The preStop delay a container already has (sleep action, or exec ``sleep N``)."""
    if container is None or container.lifecycle is None or container.lifecycle.pre_stop is None:
        return 0.0
    handler = container.lifecycle.pre_stop
    if handler.sleep is not None:
        return float(handler.sleep.seconds)
    argv = handler.exec.command if handler.exec is not None else None
    for i, word in enumerate(argv or []):
        if word.endswith("sleep") and i + 1 < len(argv or []):
            try:
                return float((argv or [])[i + 1])
            except ValueError:
                return 0.0
    return 0.0


def _pre_stop_finding(
    cause: str, failures: list[Failure], timeline: Timeline, context: RunContext
) -> Finding:
    """How long after a pod's deletion (or stop signal) some node still routed to it."""
    obj, prefix = _workload(context, timeline, failures)
    worst: tuple[float, float, str, str] | None = None  # (needed, lag after stop, node, pod)
    for f in failures:
        life = timeline.life(f.pod, f.time) if f.pod else None
        if life is None or f.routed_at is None:
            continue
        origin = life.deleted
        stop = life.termination_stop() if origin is not None else life.stop_signal()
        if origin is None:
            origin = stop.at if stop is not None else None
        if origin is None or stop is None:
            continue
        # When that node stopped routing to the pod, or at least when this request was routed.
        until = max(
            f.routed_at, (life.unrouted(f.node, after=origin) or f.routed_at) if f.node else f.routed_at
        )
        needed = until - origin
        if worst is None or needed > worst[0]:
            worst = (needed, until - stop.at, f.node or "?", life.name)
    index, container = _container(
        timeline.life(failures[0].pod, failures[0].time) if failures[0].pod else None
    )
    current = _pre_stop_seconds(container)
    if worst is None:
        return Finding(
            cause, obj, None, None, f"{len(failures)} requests failed as their pod stopped", len(failures)
        )
    needed, lag, node, pod = worst
    value = max(math.ceil(needed), math.floor(current) + 1)
    why = (
        f"{node} routed to {pod} {lag:.1f} s after its stop signal"
        if cause == TERMINATING_STILL_ROUTED
        else f"{node} still routed to {pod} {lag:.1f} s after its stop signal, and the app closed "
        f"connections with requests in flight"
    )
    message = f"preStop sleep ≥ {needed:.1f} s: {why}"
    first = timeline.life(failures[0].pod, failures[0].time) if failures[0].pod else None
    spec = first.pod.spec if first is not None and first.pod is not None else None
    tgps = spec.termination_grace_period_seconds if spec is not None else None
    if tgps is not None and tgps <= value:
        message += f"; terminationGracePeriodSeconds > {value} (now {tgps}) so the app gets its stop signal"
    return Finding(
        cause,
        obj,
        f"{prefix}containers[{index}].lifecycle.preStop.sleep.seconds",
        str(value),
        message,
        len(failures),
        {"needed_seconds": round(needed, 3), "after_stop_seconds": round(lag, 3), "current_seconds": current},
    )


def _restart(failures: list[Failure], timeline: Timeline, context: RunContext) -> Finding:
    """A container restarted in place (liveness, a crash) while its pod was still routed: the pod
    leaves the endpoints only once it is not Ready, and the proxies learn it later still."""
    obj, prefix = _workload(context, timeline, failures)
    worst: tuple[float, str, str, str] | None = None  # (seconds after the stop, node, pod, container)
    for f in failures:
        life = timeline.life(f.pod, f.time) if f.pod else None
        if life is None or f.routed_at is None:
            continue
        stops = [s for s in life.stop_signals if s.at <= f.routed_at + 0.05]
        exits = [e for e in life.exits if e.at <= f.routed_at + 0.05]
        # From the stop signal when there was one (a kill), else from the exit (a crash).
        moments = [(s.at, s.container) for s in stops] or [(e.at, e.container) for e in exits]
        if not moments:
            continue
        at, container = max(moments)
        until = life.unrouted(f.node, after=at) if f.node else None
        lag = max(f.routed_at, until or f.routed_at) - at
        if worst is None or lag > worst[0]:
            worst = (lag, f.node or "?", life.name, container)
    lag, node, pod, container = worst or (0.0, "?", "?", "?")
    index, spec = _container(timeline.life(failures[0].pod, failures[0].time) if failures[0].pod else None)
    probe = spec.readiness_probe if spec is not None else None
    detection = (probe.period_seconds or 10) * (probe.failure_threshold or 3) if probe is not None else None
    readiness = f" (its readiness probe needs up to {detection} s to fail)" if detection is not None else ""
    return Finding(
        LISTENER_CLOSED,
        obj,
        f"{prefix}containers[{index}].readinessProbe",
        None,
        f"a restarted container must keep serving ≥ {lag:.1f} s after its stop signal: {node} routed to "
        f"{pod} {lag:.1f} s after its container {container} was stopped or exited, before the pod left "
        f"the endpoints{readiness}. Fail readiness first and drain after SIGTERM for longer than that.",
        len(failures),
        {"routed_after_stop_seconds": round(lag, 3)},
    )


def _killed(failures: list[Failure], timeline: Timeline, context: RunContext) -> Finding:
    """The grace period that lets every request a pod received finish: from its deletion until
    the last proxy stopped routing to it, plus the longest request measured."""
    obj, prefix = _workload(context, timeline, failures)
    longest = context.longest_ok or 0.0
    routed_for, grace_now, pod = 0.0, None, "?"
    for f in failures:
        life = timeline.life(f.pod, f.time) if f.pod else None
        if life is None or life.kill() is None or life.deleted is None:
            continue
        ends = [end for spans in life.routed.values() for _, end in spans if end is not None]
        last = max([*ends, *(x.routed_at for x in failures if x.pod == f.pod and x.routed_at is not None)])
        if last - life.deleted >= routed_for:
            routed_for, grace_now, pod = max(0.0, last - life.deleted), life.grace, life.name
    needed = routed_for + longest
    value = math.ceil(needed) if needed else None
    message = (
        f"terminationGracePeriodSeconds ≥ {needed:.1f} s: proxies routed to {pod} until {routed_for:.1f} s "
        f"after its deletion and requests took up to {longest:.1f} s, but it was SIGKILLed at its grace "
        f"deadline (terminationGracePeriodSeconds {grace_now}) with {len(failures)} requests in flight"
    )
    return Finding(
        KILLED_IN_FLIGHT,
        obj,
        f"{prefix}terminationGracePeriodSeconds",
        str(value) if value is not None else None,
        message,
        len(failures),
        {
            "needed_seconds": round(needed, 3),
            "routed_after_deletion_seconds": round(routed_for, 3),
            "longest_request_seconds": round(longest, 3),
        },
    )


def _not_listening(failures: list[Failure], timeline: Timeline, context: RunContext) -> Finding:
    obj, prefix = _workload(context, timeline, failures)
    gap, pod = 0.0, "?"
    for f in failures:
        life = timeline.life(f.pod, f.time) if f.pod else None
        ready = life.first_ready() if life is not None else None
        if life is not None and ready is not None and f.routed_at is not None and f.routed_at - ready >= gap:
            gap, pod = f.routed_at - ready, life.name
    index, container = _container(
        timeline.life(failures[0].pod, failures[0].time) if failures[0].pod else None
    )
    has_probe = container is not None and container.readiness_probe is not None
    port = container.ports[0].container_port if container is not None and container.ports else None
    if has_probe:
        message = (
            f"readinessProbe must check the serving port: {pod} was Ready and still refused "
            f"connections {gap:.1f} s later"
        )
        value = "a probe of the port the app serves on"
    else:
        where = f" on port {port}" if port else ""
        message = (
            f"add a readinessProbe{where}: {pod} was Ready (no readiness probe) and refused connections "
            f"for {gap:.1f} s"
        )
        value = f"httpGet{{path: /, port: {port}}}" if port else "httpGet or tcpSocket on the serving port"
    return Finding(
        NOT_LISTENING,
        obj,
        f"{prefix}containers[{index}].readinessProbe",
        value,
        message,
        len(failures),
        {"ready_before_listening_seconds": round(gap, 3)},
    )


def _not_ready(failures: list[Failure], timeline: Timeline, context: RunContext) -> Finding:
    if context.publish_not_ready_addresses:
        return Finding(
            NOT_READY,
            f"Service/{context.service.split('/')[-1]}",
            "spec.publishNotReadyAddresses",
            "false",
            f"publishNotReadyAddresses: true sends traffic to pods that are not Ready "
            f"({len(failures)} failed)",
            len(failures),
        )
    return Finding(
        NOT_READY,
        None,
        None,
        None,
        f"{len(failures)} requests went to pods that were not Ready: a proxy's view lagged behind readiness",
        len(failures),
    )


def _local(failures: list[Failure], timeline: Timeline, context: RunContext) -> Finding:
    """How long a node without a ready local pod kept getting the load balancer's traffic."""
    windows: dict[str, list[float]] = defaultdict(list)
    for f in failures:
        windows[f.node or "?"].append(f.routed_at if f.routed_at is not None else f.time)
    node, times = max(windows.items(), key=lambda kv: max(kv[1]) - min(kv[1]))
    start = min(times)
    # When the node lost its last ready local endpoint (as its proxy saw it) before these drops.
    since = None
    for view in timeline.views.get(node, []):
        if view.at > start:
            break
        since = (since if since is not None else view.at) if view.local_ready == 0 else None
    start = since if since is not None else start
    until = timeline.lb_dropped(node, after=start)
    if until is not None:
        span = until - start
        noticed = f"until the load balancer's health check took it out {span:.1f} s later"
    else:
        span = max(times) - start
        detection = (
            f" (its health check needs up to {context.lb_detection:g} s)" if context.lb_detection else ""
        )
        noticed = f"for {span:.1f} s, and the load balancer still sent to it when the load stopped{detection}"
    if context.workload is not None and context.workload[0] == "DaemonSet":
        # One pod per node: the node is without a ready pod exactly while its pod is replaced.
        return Finding(
            LOCAL_NO_ENDPOINT,
            f"DaemonSet/{context.workload[1]}",
            "spec.updateStrategy.rollingUpdate.maxSurge",
            "1",
            f"maxSurge: 1 and maxUnavailable: 0, so that each node's new pod is Ready before its old one "
            f"goes: {node}, being updated, had no ready local endpoint and dropped connections {noticed}",
            len(failures),
            {"no_endpoint_seconds": round(span, 3)},
        )
    return Finding(
        LOCAL_NO_ENDPOINT,
        f"Service/{context.service.split('/')[-1]}",
        "spec.externalTrafficPolicy",
        "Cluster",
        f"externalTrafficPolicy: Cluster (or a ready pod on every node throughout the rollout): {node} had "
        f"no ready local endpoint and dropped connections {noticed}",
        len(failures),
        {"no_endpoint_seconds": round(span, 3)},
    )


def _keepalive(failures: list[Failure], timeline: Timeline, context: RunContext) -> Finding:
    return Finding(
        KEEPALIVE_RESET,
        None,
        None,
        None,
        f"{len(failures)} requests failed on reused keep-alive connections before any response byte; "
        f"clients that retry those (browsers, Go's net/http) would not see them. An app that answers "
        f"'Connection: close' while it drains avoids them.",
        len(failures),
    )


def _capacity(failures: list[Failure], timeline: Timeline, context: RunContext) -> Finding:
    obj, _ = _workload(context, timeline, failures)
    times = [f.time for f in failures]
    span = max(times) - min(times)
    if context.strategy == "Recreate":
        return Finding(
            CAPACITY,
            obj,
            "spec.strategy.type",
            "RollingUpdate",
            f"strategy RollingUpdate: Recreate left no ready pod for {span:.1f} s",
            len(failures),
            {"outage_seconds": round(span, 3)},
        )
    kind = context.workload[0] if context.workload is not None else None
    if kind == "DaemonSet":
        return Finding(
            CAPACITY,
            obj,
            "spec.updateStrategy.rollingUpdate.maxSurge",
            "1",
            f"maxSurge: 1 and maxUnavailable: 0 (each node's new pod Ready before its old one goes): too few "
            f"ready pods for {span:.1f} s",
            len(failures),
            {"outage_seconds": round(span, 3)},
        )
    if kind == "StatefulSet":
        # A StatefulSet deletes each pod before creating its successor: it cannot surge.
        replicas = (context.desired_replicas or 1) + 1
        return Finding(
            CAPACITY,
            obj,
            "spec.replicas",
            str(replicas),
            f"replicas: {replicas}: a StatefulSet replaces a pod by deleting it first, and with one pod "
            f"fewer there were too few ready pods for {span:.1f} s",
            len(failures),
            {"outage_seconds": round(span, 3)},
        )
    return Finding(
        CAPACITY,
        obj,
        "spec.strategy.rollingUpdate.maxUnavailable",
        "0",
        f"maxUnavailable: 0: too few ready pods for {span:.1f} s",
        len(failures),
        {"outage_seconds": round(span, 3)},
    )


_RULES = {
    TERMINATING_STILL_ROUTED: lambda g, t, c: _pre_stop_finding(TERMINATING_STILL_ROUTED, g, t, c),
    LISTENER_CLOSED: lambda g, t, c: _pre_stop_finding(LISTENER_CLOSED, g, t, c),
    KILLED_IN_FLIGHT: _killed,
    NOT_LISTENING: _not_listening,
    NOT_READY: _not_ready,
    LOCAL_NO_ENDPOINT: _local,
    KEEPALIVE_RESET: _keepalive,
    CAPACITY: _capacity,
}
