"""``daemonset-local-no-surge``: a DaemonSet behind an ``externalTrafficPolicy: Local`` Service,
updated without surge: each node loses its only pod while the load balancer still sends to it."""

from __future__ import annotations

from collections.abc import Iterator

from hitless.api.types.daemonset import DaemonSet
from hitless.check.finding import Finding, Severity
from hitless.check.model import Context
from hitless.check.rule import Rule
from hitless.controllers.controller_utils import scaled_value

FIELD = "spec.updateStrategy.rollingUpdate.maxSurge"


def surges(ds: DaemonSet) -> bool:
    """RollingUpdate with maxSurge > 0 (validation then forces maxUnavailable 0): a node's new pod
    starts beside its old one, which goes only once the new one is available."""
    rolling = ds.spec.update_strategy.rolling_update
    return (
        ds.spec.update_strategy.type == "RollingUpdate"
        and rolling is not None
        and (scaled_value(rolling.max_surge, 100, True) > 0)
    )


def _check(ctx: Context) -> Iterator[Finding]:
    lb = ctx.params.lb
    for w in ctx.workloads:
        ds = w.controller
        if not isinstance(ds, DaemonSet) or ds.spec.update_strategy.type != "RollingUpdate" or surges(ds):
            continue
        local = [
            svc
            for svc in ctx.services_of(w)
            if svc.service.spec.external_traffic_policy == "Local"
            and svc.service.spec.type in ("LoadBalancer", "NodePort")
        ]
        if not local:
            continue
        svc = local[0]
        is_lb = svc.service.spec.type == "LoadBalancer"
        detection = f" for up to {lb.detection_s:g} s ({lb.name} health check)" if is_lb else ""
        yield ctx.finding(
            RULE,
            w.obj,
            FIELD,
            f'updated without surge behind {svc.service.kind} "{svc.service.name}" '
            f"(externalTrafficPolicy: Local): each node's only pod is deleted before its replacement "
            f"is created, the node has no local endpoint until the new pod is Ready, and the load "
            f"balancer keeps sending to it{detection}: that node drops connections",
            severity=Severity.ERROR if is_lb else Severity.WARNING,
            numbers={"lb_detection_s": lb.detection_s, "nodes": ctx.params.nodes},
        )


RULE = Rule(
    id="daemonset-local-no-surge",
    severity=Severity.ERROR,
    summary="A DaemonSet behind an externalTrafficPolicy: Local Service rolls without surge",
    behaviour=(
        "A DaemonSet's RollingUpdate without maxSurge deletes a node's pod first and creates the "
        "new one only once the old one is gone (pkg/controller/daemon). With externalTrafficPolicy: "
        "Local a node serves load-balancer traffic only from its own pods and fails the "
        "healthCheckNodePort check once it has none, but the load balancer notices only after "
        "interval x unhealthyThreshold: until then it sends connections the node drops."
    ),
    fix=(
        "Set spec.updateStrategy.rollingUpdate.maxSurge: 1 and maxUnavailable: 0, so that each node's "
        "new pod is Ready before its old one goes (or use externalTrafficPolicy: Cluster)."
    ),
    check=_check,
)
