"""``service-target-port``: a Service targetPort the selected containers do not declare."""

from __future__ import annotations

from collections.abc import Iterator

from hitless.check.finding import Finding, Severity
from hitless.check.model import Context
from hitless.check.rule import Rule
from hitless.check.rules._util import declared


def _check(ctx: Context) -> Iterator[Finding]:
    for svc in ctx.services:
        targets = ctx.selected_by(svc)
        if not targets:
            continue
        for i, port in enumerate(svc.service.spec.ports or []):
            target = port.target_port if port.target_port is not None else port.port
            at = f"spec.ports[{i}].targetPort"
            for w in targets:
                containers = [c for c, _ in w.containers()]
                if isinstance(target, str) and not target.isdigit():
                    if not any(c.port_by_name(target) is not None for c in containers):
                        yield ctx.finding(
                            RULE,
                            svc.obj,
                            at,
                            f"targetPort {target!r} names no container port of {w.obj.kind} "
                            f'"{w.obj.name}" (line {w.obj.line}): the EndpointSlice controller finds '
                            "no port for its pods, so the Service has no endpoint from it on that port",
                        )
                    continue
                number = int(target)
                ports = set().union(*(declared(c) for c in containers))
                if ports and number not in ports:
                    yield ctx.finding(
                        RULE,
                        svc.obj,
                        at,
                        f'targetPort {number} is not a port {w.obj.kind} "{w.obj.name}" (line '
                        f"{w.obj.line}) declares ({', '.join(str(p) for p in sorted(ports))}): "
                        "connections go to a port the app may not listen on",
                        severity=Severity.WARNING,
                        numbers={"target_port": number},
                    )


RULE = Rule(
    id="service-target-port",
    severity=Severity.ERROR,
    summary="A Service targetPort is not a port the selected containers declare",
    behaviour=(
        "The EndpointSlice controller resolves a named targetPort in each selected pod's "
        "container ports (FindPort); a pod without that name gets no endpoint port, so the "
        "Service port has no endpoint from it and its connections are refused. A numeric "
        "targetPort is used as is, declared or not."
    ),
    fix="Target the container port by the name it declares (targetPort: http).",
    check=_check,
    kube_linter=("invalid-target-ports",),
)
