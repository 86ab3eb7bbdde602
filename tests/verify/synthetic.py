"""A large report made by the real pipeline (attribution, findings, Report.to_json) from synthetic
requests and proxy records: a minute at 500 requests/s over three pods, one deleted while a node
kept routing to it for 6 s, one not Ready for 15 s while routed: thousands of failures."""

from __future__ import annotations

from typing import Any

from hitless.proxy.records import ConnectionRecord
from hitless.verify.attribute import RunContext, attribute
from hitless.verify.findings import findings
from hitless.verify.generator import RequestResult
from hitless.verify.report import Report
from hitless.verify.timeline import ContainerExit, PodLife, StopSignal, Timeline


def large_report(
    names: tuple[str, str, str] = ("web-a", "web-b", "web-c"), seconds: int = 60
) -> dict[str, Any]:
    a, b, c = (PodLife("default", n, node=f"node-{i % 2 + 1}", created=95.0 + i) for i, n in enumerate(names))
    for life in (a, b, c):
        life.started.append(((life.created or 0.0) + 0.2, "web"))
        life.routed["node-1"] = [[99.5, None]]
        life.routed["node-2"] = [[99.6, None]]
    a.ready.append([99.0, 130.0])
    a.deleted = 130.0
    a.stop_signals.append(StopSignal(130.0, "web", 30))
    a.exits.append(ContainerExit(130.2, "web", 0, False))
    a.gone = 130.4
    a.routed["node-1"] = [[99.5, 131.0]]
    a.routed["node-2"] = [[99.6, 136.0]]
    b.ready.append([99.0, None])
    c.ready += [[99.0, 140.0], [155.0, None]]
    timeline = Timeline({p.key: p for p in (a, b, c)}, marks=[(130.0, "rollout 1")])
    requests, records = [], []
    for i in range(seconds * 500):
        t = 100.0 + i / 500
        node = "node-1" if i % 2 else "node-2"
        pod = (a, b, c)[i % 3]
        if pod is a and t >= (131.0 if node == "node-1" else 136.0):
            pod = b
        r = RequestResult(seq=i, intended=t, keepalive=False, client=("127.0.0.1", 20000 + i % 40000), sent=t)
        r.done = t + 0.002 + (i % 50) / 10_000
        if pod is a and t >= 130.0:
            r.error, r.detail = "refused", "connection refused"
        elif pod is c and 140.0 <= t < 155.0:
            r.status = 503
        else:
            r.status = 200
        requests.append(r)
        records.append(
            ConnectionRecord(
                id=i,
                hop="proxy",
                node=node,
                service="default/web",
                port_name="",
                frontend="clusterIP",
                client=r.client,
                accepted_at=t,
                pod=pod.key,
                outcome="upstream-refused" if r.error else "routed",
            )
        )
    context = RunContext(service="default/web", workload=("Deployment", "web"), desired_replicas=3)
    result = attribute(requests, records, timeline, context)
    report = Report(
        requests,
        result,
        findings(result.failures, timeline, context),
        timeline,
        100.0,
        run={"files": ["synthetic.yaml"], "service": "default/web", "scenario": "rollout", "repeat": 1},
    )
    return report.to_json()
