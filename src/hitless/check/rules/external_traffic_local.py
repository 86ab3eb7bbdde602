"""``external-traffic-local``: ``externalTrafficPolicy: Local`` with nodes that have no pod."""

from __future__ import annotations

from collections.abc import Iterator

from hitless.api.types.daemonset import DaemonSet
from hitless.check.finding import Finding, Severity
from hitless.check.model import Context, Workload
from hitless.check.rule import Rule
from hitless.check.rules._serving import serving


def _spread(w: Workload) -> bool:
    if isinstance(w.controller, DaemonSet):
        return True  # a DaemonSet runs one pod on every node by itself
    extra = w.spec.model_extra or {}
    affinity = extra.get("affinity")
    return bool(extra.get("topologySpreadConstraints")) or (
        isinstance(affinity, dict) and bool(affinity.get("podAntiAffinity"))
    )


def _check(ctx: Context) -> Iterator[Finding]:
    lb, nodes = ctx.params.lb, ctx.params.nodes
    for svc in ctx.services:
        spec = svc.service.spec
        if spec.external_traffic_policy != "Local" or spec.type not in ("LoadBalancer", "NodePort"):
            continue
        targets = ctx.targets(svc)
        if not targets:
            continue
        replicas = sum(w.replicas for w in targets)
        at = "spec.externalTrafficPolicy"
        if replicas < nodes:
            yield ctx.finding(
                RULE,
                svc.obj,
                at,
                f"{replicas} pod(s) for {nodes} nodes: at least {nodes - replicas} node(s) have no local "
                f"endpoint, fail the load balancer's health check on healthCheckNodePort and carry no "
                f"traffic; in a rolling update each replaced pod takes its node out of the load balancer "
                f"(after up to {lb.detection_s:g} s on {lb.name}) and the new pod's node back in only "
                f"after up to {lb.admission_s:g} s",
                severity=Severity.WARNING,
                numbers={"replicas": replicas, "nodes": nodes, "nodes_without_endpoint": nodes - replicas},
            )
        elif replicas > 1 and not all(_spread(w) for w in targets):
            yield ctx.finding(
                RULE,
                svc.obj,
                at,
                f"{replicas} pods for {nodes} nodes with no topologySpreadConstraints or pod "
                "anti-affinity: nothing keeps a pod on every node, and a node without one fails the "
                "load balancer's health check",
                severity=Severity.WARNING,
                numbers={"replicas": replicas, "nodes": nodes},
            )
        if spec.type != "LoadBalancer":
            continue
        need = ctx.params.propagation_s + lb.detection_s
        for w in targets:
            if isinstance(w.controller, DaemonSet):
                continue  # one pod per node: daemonset-local-no-surge says when that pod is its last
            for c in w.spec.containers:
                s = serving(c, w.grace_s)
                if s is None or s.until_s >= need:
                    continue
                yield ctx.finding(
                    RULE,
                    svc.obj,
                    at,
                    f'when a pod of {w.obj.kind} "{w.obj.name}" is its node\'s last local endpoint, the '
                    f"load balancer ({lb.name}) keeps sending to that node for up to {need:g} s after the "
                    f"pod's deletion (propagation {ctx.params.propagation_s:g} s + health check "
                    f"{lb.interval_s:g} s x {lb.unhealthy_threshold}), but container {c.name!r} stops "
                    f"serving after {s.until_s:g} s ({s.explained}): that node drops connections for "
                    f"up to {need - s.until_s:g} s",
                    severity=Severity.ERROR if s.known else Severity.WARNING,
                    numbers={
                        "lb_detection_s": lb.detection_s,
                        "propagation_delay_s": ctx.params.propagation_s,
                        "serving_after_deletion_s": s.until_s,
                        "uncovered_s": round(need - s.until_s, 3),
                        "replicas": replicas,
                        "nodes": nodes,
                    },
                    fix=(
                        f"Use externalTrafficPolicy: Cluster unless the client IP is needed; else keep a "
                        f"preStop sleep of at least {int(-(-need // 1))} s (kube-proxy >= 1.26 keeps "
                        "routing to a terminating pod that still serves) and run more pods than nodes, "
                        "spread with topologySpreadConstraints."
                    ),
                )


RULE = Rule(
    id="external-traffic-local",
    severity=Severity.ERROR,
    summary=(
        "externalTrafficPolicy: Local with fewer pods than nodes, no spreading, or pods that stop "
        "serving before the load balancer notices"
    ),
    behaviour=(
        "With externalTrafficPolicy: Local each node sends load-balancer traffic only to its own "
        "pods and answers the load balancer's health check (healthCheckNodePort) with 503 when it "
        "has no ready local endpoint. The load balancer notices only after interval x "
        "unhealthyThreshold (GCE 8 s x 3, AWS NLB 10 s x 2). Meanwhile a node whose last pod "
        "terminates receives traffic: kube-proxy >= 1.26 still routes it to the terminating pod "
        "while that pod serves (KEP-1669), and drops it once the pod is gone."
    ),
    fix="Prefer externalTrafficPolicy: Cluster; with Local, run more pods than nodes, spread them, and "
    "keep each terminating pod serving longer than the load balancer takes to notice.",
    check=_check,
)
