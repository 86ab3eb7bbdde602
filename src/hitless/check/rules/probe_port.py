"""``probe-port``: a probe aimed at a port the container does not declare, or a missing name."""

from __future__ import annotations

from collections.abc import Iterator

from hitless.check.finding import Finding, Severity
from hitless.check.model import Context, Workload
from hitless.check.rule import Rule
from hitless.check.rules._util import declared, is_named, probe_port, probes

_NAMED = (
    "A named probe port the container does not declare cannot be resolved: the kubelet's probe "
    "errors on every attempt and throws the result away, so a readiness probe never passes (the "
    "pod is never Ready), a startup probe never passes (liveness and readiness never start), "
    "and a liveness probe never restarts anything."
)


def _service_ports(ctx: Context, w: Workload) -> set[int]:
    return {
        p.target_port
        for s in ctx.services_of(w)
        for p in s.service.spec.ports or []
        if isinstance(p.target_port, int)
    }


def _check(ctx: Context) -> Iterator[Finding]:
    for w in ctx.workloads:
        traffic = _service_ports(ctx, w)
        for c, path in w.containers():
            ports = declared(c)
            for field, probe in probes(c):
                target = probe_port(probe)
                if target is None:
                    continue
                handler, port = target
                at = f"{path}.{field}.{handler}.port"
                if is_named(port):
                    if c.port_by_name(str(port)) is None:
                        yield ctx.finding(
                            RULE,
                            w.obj,
                            at,
                            f"container {c.name!r}: {field} uses the port name {port!r}, which the "
                            "container does not declare in ports[].name",
                            behaviour=_NAMED,
                        )
                    continue
                number = int(port)
                if number in ports:
                    continue
                if ports:
                    yield ctx.finding(
                        RULE,
                        w.obj,
                        at,
                        f"container {c.name!r}: {field} probes port {number}, which the container "
                        f"does not declare (it declares {', '.join(str(p) for p in sorted(ports))})",
                        severity=Severity.WARNING,
                        numbers={"probe_port": number},
                    )
                elif field == "readinessProbe" and traffic and number not in traffic:
                    yield ctx.finding(
                        RULE,
                        w.obj,
                        at,
                        f"container {c.name!r}: the readiness probe checks port {number}, but its "
                        f"Service sends traffic to port {', '.join(str(p) for p in sorted(traffic))}, "
                        "and the container declares no ports: readiness says nothing about the port "
                        "that serves (and fails if nothing listens on it)",
                        severity=Severity.WARNING,
                        numbers={"probe_port": number, "service_target_port": min(traffic)},
                    )


RULE = Rule(
    id="probe-port",
    severity=Severity.ERROR,
    summary="A probe targets a port the container does not declare, or a port name that does not exist",
    behaviour=(
        "The kubelet probes the pod IP on the probe's port. A port nothing listens on fails every "
        "probe (the pod never gets Ready, or is restarted in a loop); a readiness probe on another "
        "port than the Service's targetPort does not tell whether the serving port works. " + _NAMED
    ),
    fix="Probe the port the app serves on, by the name declared in the container's ports.",
    check=_check,
    kube_linter=("liveness-port", "readiness-port", "startup-port"),
)
