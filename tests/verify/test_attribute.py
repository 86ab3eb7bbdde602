"""Attribution on synthetic timelines: one table row per cause, and the findings they produce."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest

from hitless.api.types.pod import Pod
from hitless.proxy.records import ConnectionRecord
from hitless.verify import attribute as a
from hitless.verify.attribute import RunContext, attribute
from hitless.verify.findings import findings
from hitless.verify.generator import RequestResult
from hitless.verify.join import join
from hitless.verify.timeline import ContainerExit, NodeView, PodLife, StopSignal, Timeline

_ports = itertools.count(40000)
_ids = itertools.count(1)


def spec(pre_stop: float | None = None, grace: int = 30, readiness: bool = True) -> Pod:
    container: dict[str, Any] = {"name": "web", "image": "x", "ports": [{"containerPort": 8080}]}
    if pre_stop is not None:
        container["lifecycle"] = {"preStop": {"sleep": {"seconds": pre_stop}}}
    if readiness:
        container["readinessProbe"] = {"httpGet": {"path": "/", "port": 8080}}
    return Pod.from_json(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "web-a", "namespace": "default"},
            "spec": {"terminationGracePeriodSeconds": grace, "containers": [container]},
        }
    )


def life(
    ready: tuple[float, float | None] | None = (1.0, None),
    deleted: float | None = None,
    stop: float | None = None,
    exit_at: float | None = None,
    killed: bool = False,
    pod: Pod | None = None,
    grace: int | None = None,
) -> PodLife:
    p = PodLife("default", "web-a", node="node-1", created=0.0, pod=pod or spec())
    p.started.append((0.2, "web"))
    if ready is not None:
        p.ready.append([ready[0], ready[1]])
    p.deleted, p.grace = deleted, grace
    if stop is not None:
        p.stop_signals.append(StopSignal(stop, "web", 30))
    if exit_at is not None:
        p.exits.append(ContainerExit(exit_at, "web", 137 if killed else 0, killed))
    return p


@dataclass
class Row:
    name: str
    life: PodLife
    routed_at: float
    done: float
    cause: str
    phase: str | None
    outcome: str = "reset"
    hop_outcome: str = "routed"
    reused: bool = False
    with_pod: bool = True
    recorded: bool = True


def request(row: Row) -> tuple[RequestResult, list[ConnectionRecord]]:
    client = ("127.0.0.1", next(_ports))
    r = RequestResult(seq=0, intended=row.routed_at - 0.001, keepalive=row.reused, client=client)
    r.sent, r.done, r.reused = row.routed_at, row.done, row.reused
    if row.outcome.isdigit():
        r.status = int(row.outcome)
    else:
        r.error = row.outcome  # type: ignore[assignment]
    if not row.recorded:
        return r, []
    record = ConnectionRecord(
        id=next(_ids),
        hop="proxy",
        node="node-2",
        service="default/web",
        port_name="",
        frontend="nodePort",
        client=client,
        accepted_at=row.routed_at,
        outcome=row.hop_outcome,  # type: ignore[arg-type]
        pod="default/web-a" if row.with_pod else None,
        connected_at=row.routed_at,
    )
    return r, [record]


ROWS = [
    Row("routed after the stop signal", life(deleted=10, stop=10, exit_at=10.1), 10.8, 10.81,
        a.TERMINATING_STILL_ROUTED, "stopped", hop_outcome="upstream-refused"),
    Row("routed during preStop, cut at the stop signal", life(deleted=10, stop=12, exit_at=12.01), 11.0, 12.0,
        a.LISTENER_CLOSED, "terminating"),
    Row("routed before deletion, cut at stop", life(deleted=10, stop=10, exit_at=10.02), 9.9, 10.05,
        a.LISTENER_CLOSED, "ready"),
    Row("SIGKILL at the deadline", life(deleted=10, stop=15, exit_at=17, killed=True, grace=5), 9.5, 17.0,
        a.KILLED_IN_FLIGHT, "ready"),
    Row("reused keep-alive connection, no byte", life(), 5.0, 5.01, a.KEEPALIVE_RESET, "ready", reused=True),
    Row("Ready but nothing listening yet", life(ready=(1.0, None)), 1.2, 1.21, a.NOT_LISTENING, "ready",
        hop_outcome="upstream-refused"),
    Row("routed before Ready", life(ready=(1.0, None)), 0.5, 0.51, a.NOT_READY, "starting",
        hop_outcome="upstream-refused"),
    Row("no local endpoint", life(), 5.0, 8.0, a.LOCAL_NO_ENDPOINT, None, outcome="timeout",
        hop_outcome="dropped", with_pod=False),
    Row("no endpoint at all", life(), 5.0, 5.01, a.CAPACITY, None, hop_outcome="refused", with_pod=False),
    Row("no hop saw it", life(), 5.0, 5.01, a.OTHER, None, outcome="refused", recorded=False),
    Row("liveness restart while routed", life(ready=(1.0, None), stop=5.0, exit_at=5.1), 5.5, 5.51,
        a.LISTENER_CLOSED, "restarting", hop_outcome="upstream-refused"),
]  # fmt: skip


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_cause_table(row: Row) -> None:
    timeline = Timeline({row.life.key: row.life})
    req, records = request(row)
    # A pod that served a request at 3.0 is known to listen (it matters for not-listening).
    ok = RequestResult(seq=1, intended=3.0, keepalive=False, client=("127.0.0.1", next(_ports)))
    ok.sent, ok.done, ok.status = 3.0, 3.01, 200
    ok_record = ConnectionRecord(
        id=next(_ids), hop="proxy", node="node-1", service="default/web", port_name="",
        frontend="nodePort", client=ok.client, accepted_at=3.0, pod="default/web-a",
    )  # fmt: skip
    requests = [req] if row.cause == a.NOT_LISTENING else [req, ok]
    result = attribute(requests, [*records, ok_record], timeline, RunContext(service="default/web"))
    [failure] = result.failures
    assert (failure.cause, failure.phase) == (row.cause, row.phase), failure.reason
    assert failure.time == req.intended
    if row.with_pod and row.recorded:
        assert failure.pod == "default/web-a" and failure.node == "node-2"
    assert failure.cause in a.CAUSES


def test_join_follows_upstream_from_the_load_balancer_to_the_pod() -> None:
    client = ("127.0.3.1", 50000)
    lb = ConnectionRecord(
        id=1, hop="load-balancer", node="node-2", service="default/web", port_name="",
        frontend="loadBalancer", client=client, accepted_at=1.0, upstream=("127.0.3.1", 50001),
    )  # fmt: skip
    proxy = ConnectionRecord(
        id=2, hop="proxy", node="node-2", service="default/web", port_name="", frontend="nodePort",
        client=("127.0.3.1", 50001), accepted_at=1.001, pod="default/web-a", upstream=("127.0.1.2", 50002),
    )  # fmt: skip
    # An older connection from the same port, long closed: not this request's.
    stale = ConnectionRecord(
        id=3, hop="load-balancer", node="node-1", service="default/web", port_name="",
        frontend="loadBalancer", client=client, accepted_at=0.1,
    )  # fmt: skip
    r = RequestResult(seq=0, intended=1.0, keepalive=True, client=client, sent=1.0, done=1.01, status=200)
    [route] = join([r], [stale, lb, proxy])
    assert [h.id for h in route.hops] == [1, 2]
    assert (route.node, route.pod) == ("node-2", "default/web-a")


def test_a_refused_connect_does_not_take_an_earlier_connections_route_from_the_same_port() -> None:
    # Seen in examples/broken/recreate.yaml's runs: once the old pods were gone the ClusterIP
    # refused every connect (no record), and the kernel gave the next connects ports whose earlier
    # connections had reached old pods: those refusals were blamed on gone pods (listener-closed).
    port = ("127.0.0.1", 41234)
    earlier = ConnectionRecord(
        id=7, hop="proxy", node="node-1", service="default/web", port_name="", frontend="clusterIP",
        client=port, accepted_at=3.9, pod="default/web-a",
    )  # fmt: skip
    refused = RequestResult(seq=0, intended=5.7, keepalive=False, client=port, sent=None, done=5.71)
    refused.error = "refused"
    answered = RequestResult(seq=1, intended=3.9, keepalive=False, client=port, sent=3.9, done=3.95)
    answered.status = 200
    routes = join([refused, answered], [earlier])
    assert [[h.id for h in r.hops] for r in routes] == [[], [7]]


def _hop(
    hop: str, node: str, client: tuple[str, int], at: float, upstream: int | None = None, **kw: Any
) -> ConnectionRecord:
    return ConnectionRecord(
        id=next(_ids), hop=hop, node=node, service="default/web", port_name="",  # type: ignore[arg-type]
        frontend="loadBalancer" if hop == "load-balancer" else "nodePort", client=client,
        accepted_at=at, connected_at=at if upstream is not None else None,
        upstream=("127.0.0.1", upstream) if upstream is not None else None, **kw,
    )  # fmt: skip


def test_join_tells_apart_connections_that_share_an_address() -> None:
    # The load balancer's upstream sockets get their port per destination (IP_BIND_ADDRESS_NO_PORT),
    # so 127.0.0.1:53776 is at once a client's keep-alive connection to the load balancer (b), the
    # load balancer's connection to node-1 for another client (a), and to node-2 for a third (c).
    # Seen in examples/broken/daemonset-local-no-surge.yaml's runs: a's timeout, joined to c's
    # node, was blamed on a Ready pod of node-2 (listener-closed, other) instead of node-1's drop.
    shared = ("127.0.0.1", 53776)
    b_lb = _hop("load-balancer", "node-2", shared, 0.9, upstream=41000)
    b_node = _hop("proxy", "node-2", ("127.0.0.1", 41000), 0.9, pod="default/web-b")
    a_lb = _hop("load-balancer", "node-1", ("127.0.0.1", 52642), 1.0, upstream=shared[1])
    a_node = _hop("proxy", "node-1", shared, 1.0, pod="default/web-a", outcome="upstream-timeout")
    c_lb = _hop("load-balancer", "node-2", ("127.0.0.1", 52700), 1.01, upstream=shared[1])
    c_node = _hop("proxy", "node-2", shared, 1.01, pod="default/web-b")
    a = RequestResult(seq=0, intended=1.0, keepalive=False, client=a_lb.client, sent=1.0, done=4.0)
    b = RequestResult(seq=1, intended=1.02, keepalive=True, client=shared, sent=1.02, done=1.05, status=200)
    b.reused = True  # its connection opened at 0.9, for an earlier request
    c = RequestResult(seq=2, intended=1.01, keepalive=False, client=c_lb.client, sent=1.01, done=1.1)
    c.status = 200
    routes = join([a, b, c], [b_lb, b_node, a_lb, a_node, c_lb, c_node])
    assert [[h.id for h in r.hops] for r in routes] == [
        [a_lb.id, a_node.id],
        [b_lb.id, b_node.id],
        [c_lb.id, c_node.id],
    ]


def test_a_load_balancer_connection_the_node_took_only_after_the_client_gave_up() -> None:
    # node-1 dropped SYNs (Local, no local endpoint) from 5.9 to 8.5: the load balancer's connect
    # went through on a retransmitted SYN at 9.1, after the client's 3 s timeout. For the request,
    # no node took it: the route ends at the load balancer, and the blame is node-1's drop.
    views = [_view(0.0), _view(5.9, mode="drop", local_ready=0), _view(8.5)]
    timeline = Timeline({}, views={"node-1": views})
    lb = _hop("load-balancer", "node-1", ("127.0.0.1", 47422), 6.0, upstream=57776)
    lb.connected_at = 9.1
    late = _hop("proxy", "node-1", ("127.0.0.1", 57776), 9.1, pod="default/web-a")
    r = RequestResult(seq=0, intended=6.0, keepalive=False, client=lb.client, sent=6.0, done=9.0)
    r.error = "timeout"
    result = attribute([r], [lb, late], timeline, RunContext(service="default/web"))
    assert [h.id for h in result.routes[0].hops] == [lb.id]
    [failure] = result.failures
    assert (failure.cause, failure.node) == (a.LOCAL_NO_ENDPOINT, "node-1"), failure.reason


def test_a_retransmitted_syn_that_got_through_as_the_client_gave_up_is_still_the_drop() -> None:
    # examples/broken/daemonset-local-no-surge.yaml on a loaded machine: node-2 dropped from 13.0
    # (its only pod going) until its new pod was Ready at 16.1. The load balancer's SYN of 13.16,
    # retransmitted at 14.16 and 16.16, went through to the new pod 50 ms after the client's 3 s
    # timeout: joined (within the slack), it was blamed on a Ready pod (other, "answered timeout
    # while Ready"), never on the drop that made the client wait.
    new = PodLife("default", "web-b", node="node-2", created=14.0, pod=spec())
    new.started.append((14.2, "web"))
    new.ready.append([16.1, None])
    views = [_view(0.0), _view(13.0, mode="drop", local_ready=0), _view(16.1, local_ready=1)]
    timeline = Timeline({new.key: new}, views={"node-2": views})
    lb = _hop("load-balancer", "node-2", ("127.0.0.1", 58376), 13.16, upstream=38788)
    lb.connected_at = 16.21
    late = _hop("proxy", "node-2", ("127.0.0.1", 38788), 16.21, upstream=58708, pod=new.key)
    r = RequestResult(seq=0, intended=13.16, keepalive=False, client=lb.client, sent=13.16, done=16.17)
    r.error = "timeout"
    context = RunContext(service="default/web", external_traffic_policy="Local")
    result = attribute([r], [lb, late], timeline, context)
    [failure] = result.failures
    assert (failure.cause, failure.node, failure.pod) == (a.LOCAL_NO_ENDPOINT, "node-2", None), failure.reason
    assert "retransmitted SYN got through 3.05 s later" in failure.reason
    # A drop the connection got through in time is no cause: the pod's own answer is.
    r.done, r.error, r.status = 16.5, None, 503
    [failure] = attribute([r], [lb, late], timeline, context).failures
    assert failure.cause == a.OTHER and failure.pod == new.key


def test_the_node_accepts_before_the_load_balancer_notes_its_connect() -> None:
    # The load balancer stamps connected_at in a later loop callback than node-2's accept, on a
    # loaded machine 60 ms later: the node's record is still the next hop (the load balancer had
    # dialled at its accept), and the fallback to the terminating pod is blamed, not nobody.
    pod = life(deleted=10, stop=13, exit_at=13.1)
    timeline = Timeline({pod.key: pod}, views={"node-2": [_view(0.0), _view(10.1, fallback=True)]})
    lb = _hop("load-balancer", "node-2", ("127.0.0.1", 52000), 13.2, upstream=41999)
    lb.connected_at = 13.26
    node = _hop("proxy", "node-2", ("127.0.0.1", 41999), 13.2, pod=pod.key, outcome="upstream-refused")
    r = RequestResult(seq=0, intended=13.2, keepalive=False, client=lb.client, sent=13.2, done=13.27)
    r.error = "reset"
    local = RunContext(service="default/web", external_traffic_policy="Local")
    result = attribute([r], [lb, node], timeline, local)
    assert [h.id for h in result.routes[0].hops] == [lb.id, node.id]
    [failure] = result.failures
    assert (failure.cause, failure.pod) == (a.LOCAL_NO_ENDPOINT, pod.key), failure.reason


def test_findings_name_the_field_and_the_value() -> None:
    pod = life(deleted=10, stop=10, exit_at=10.1, pod=spec(grace=30))
    pod.routed["node-2"] = [[2.0, 11.3]]
    timeline = Timeline({pod.key: pod})
    row = Row("", pod, 10.8, 10.81, a.TERMINATING_STILL_ROUTED, "stopped", hop_outcome="upstream-refused")
    req, records = request(row)
    context = RunContext(service="default/web", workload=("Deployment", "web"))
    result = attribute([req], records, timeline, context)
    [finding] = findings(result.failures, timeline, context)
    assert finding.object == "Deployment/web"
    assert finding.field == "spec.template.spec.containers[0].lifecycle.preStop.sleep.seconds"
    assert finding.value == "2"
    assert finding.message.startswith(
        "preStop sleep ≥ 1.3 s: node-2 routed to web-a 1.3 s after its stop signal"
    )


def test_findings_for_kills_recreate_and_missing_readiness() -> None:
    killed = life(deleted=10, stop=15, exit_at=17, killed=True, grace=7, pod=spec(pre_stop=5, grace=7))
    killed.routed["node-2"] = [[2.0, 11.5]]
    timeline = Timeline({killed.key: killed})
    req, records = request(Row("", killed, 9.5, 17.0, a.KILLED_IN_FLIGHT, "ready"))
    slow = RequestResult(seq=1, intended=3.0, keepalive=False, sent=3.0, done=9.0, status=200)
    context = RunContext(service="default/web", workload=("Deployment", "web"), strategy="Recreate")
    result = attribute([req, slow], records, timeline, context)
    [finding] = findings(result.failures, timeline, context)
    assert finding.field == "spec.template.spec.terminationGracePeriodSeconds"
    # Routed to until 1.5 s after the deletion, and a request takes up to 6 s: 7.5 s, rounded up.
    assert finding.value == "8", finding.message

    cap = life()
    req, records = request(Row("", cap, 5.0, 5.01, a.CAPACITY, None, hop_outcome="refused", with_pod=False))
    result = attribute([req], records, Timeline({cap.key: cap}), context)
    [finding] = findings(result.failures, Timeline(), context)
    assert (finding.field, finding.value) == ("spec.strategy.type", "RollingUpdate")
    # A StatefulSet cannot surge: one more replica; a DaemonSet can: maxSurge.
    for workload, field, value in (
        (("StatefulSet", "web"), "spec.replicas", "4"),
        (("DaemonSet", "web"), "spec.updateStrategy.rollingUpdate.maxSurge", "1"),
    ):
        other = RunContext(service="default/web", workload=workload, desired_replicas=3)
        [finding] = findings(result.failures, Timeline(), other)
        assert (finding.object, finding.field, finding.value) == (f"{workload[0]}/web", field, value)

    bare = life(pod=spec(readiness=False))
    req, records = request(Row("", bare, 1.2, 1.21, a.NOT_LISTENING, "ready", hop_outcome="upstream-refused"))
    timeline = Timeline({bare.key: bare})
    result = attribute([req], records, timeline, context)
    [finding] = findings(result.failures, timeline, context)
    assert finding.field == "spec.template.spec.containers[0].readinessProbe"
    assert "add a readinessProbe on port 8080" in finding.message


def _view(at: float, mode: str = "route", fallback: bool = False, local_ready: int | None = None) -> NodeView:
    return NodeView(at, mode, mode, fallback, fallback, local_ready)


def test_a_fallback_to_a_terminating_pod_is_blamed_on_the_missing_ready_endpoint() -> None:
    # Recreate: every pod terminating, the proxy falls back to them, the app stops at its signal.
    pod = life(deleted=10, stop=13, exit_at=13.1)
    row = Row("", pod, 13.2, 13.21, a.CAPACITY, "stopped", hop_outcome="upstream-refused")
    req, records = request(row)
    timeline = Timeline({pod.key: pod}, views={"node-2": [_view(0.0), _view(10.1, fallback=True)]})
    [failure] = attribute([req], records, timeline, RunContext(service="default/web")).failures
    assert failure.cause == a.CAPACITY and "fell back to the terminating web-a" in failure.reason
    # The same on the external path of a Local Service: the node had no ready local endpoint.
    local = RunContext(service="default/web", external_traffic_policy="Local")
    [failure] = attribute([req], records, timeline, local).failures
    assert failure.cause == a.LOCAL_NO_ENDPOINT
    # Without the fallback (other pods were ready) it is the pod's own shutdown.
    timeline.views["node-2"] = [_view(0.0)]
    [failure] = attribute([req], records, timeline, RunContext(service="default/web")).failures
    assert failure.cause == a.TERMINATING_STILL_ROUTED


def test_connections_no_node_took() -> None:
    timeline = Timeline({}, views={"node-1": [_view(0.0), _view(5.0, mode="refuse")], "node-2": []})
    # The ClusterIP refused the connect itself (REJECT): no hop has a record.
    refused = RequestResult(seq=0, intended=5.5, keepalive=False, client=("127.0.0.1", 1), done=5.51)
    refused.error = "refused"
    # The load balancer sent one to node-2, which dropped it (Local, no local endpoint).
    lb = ConnectionRecord(
        id=next(_ids), hop="load-balancer", node="node-2", service="default/web", port_name="",
        frontend="loadBalancer", client=("127.0.0.1", 2), accepted_at=6.0, outcome="upstream-timeout",
    )  # fmt: skip
    timeline.views["node-2"] = [_view(0.0), _view(5.9, mode="drop", local_ready=0)]
    dropped = RequestResult(seq=1, intended=6.0, keepalive=False, client=("127.0.0.1", 2), sent=6.0, done=9.0)
    dropped.error = "timeout"
    result = attribute([refused, dropped], [lb], timeline, RunContext(service="default/web"))
    assert [f.cause for f in result.failures] == [a.CAPACITY, a.LOCAL_NO_ENDPOINT]


def test_a_restarted_container_is_blamed_until_the_pod_is_ready_again() -> None:
    pod = life(ready=(1.0, 5.3), stop=5.0, exit_at=5.1)
    pod.started.append((5.2, "web"))
    pod.ready.append([6.5, None])
    # Routed after the new container started, before the pod was Ready again: refused.
    row = Row("", pod, 5.6, 5.61, a.LISTENER_CLOSED, "not-ready", hop_outcome="upstream-refused")
    req, records = request(row)
    timeline = Timeline({pod.key: pod})
    context = RunContext(service="default/web", workload=("Deployment", "web"))
    [failure] = attribute([req], records, timeline, context).failures
    assert failure.cause == a.LISTENER_CLOSED and failure.restart
    [finding] = findings([failure], timeline, context)
    assert finding.field == "spec.template.spec.containers[0].readinessProbe"
    assert finding.message.startswith("a restarted container must keep serving ≥ 0.6 s")
