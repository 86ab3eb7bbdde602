"""``probes-identical``: liveness checks what readiness checks and gives up no later."""

from __future__ import annotations

from collections.abc import Iterator

from hitless.check.finding import Finding, Severity
from hitless.check.model import Context
from hitless.check.rule import Rule
from hitless.check.rules._util import handler_key
from hitless.check.timeline import ProbeTiming


def _check(ctx: Context) -> Iterator[Finding]:
    for w in ctx.workloads:
        for c, path in w.containers():
            live, ready = c.liveness_probe, c.readiness_probe
            if live is None or ready is None:
                continue
            key = handler_key(c, live)
            if key is None or key != handler_key(c, ready):
                continue
            lt, rt = ProbeTiming.of(live), ProbeTiming.of(ready)
            if lt.gives_up() > rt.gives_up():
                continue  # liveness waits longer: the pod leaves rotation before it is restarted
            yield ctx.finding(
                RULE,
                w.obj,
                f"{path}.livenessProbe",
                f"container {c.name!r}: the liveness probe checks the same endpoint as the readiness "
                f"probe and gives up after {lt.gives_up()} s, not later than readiness "
                f"({rt.gives_up()} s): a pod that is only slow or overloaded is restarted instead of "
                "being taken out of rotation until it recovers",
                numbers={
                    "liveness_gives_up_s": lt.gives_up(),
                    "readiness_gives_up_s": rt.gives_up(),
                },
            )


RULE = Rule(
    id="probes-identical",
    severity=Severity.WARNING,
    summary="Liveness probes what readiness probes and does not give up later",
    behaviour=(
        "Readiness failing takes a pod out of the Service's endpoints; liveness failing kills and "
        "restarts the container. When both check the same thing (named ports resolved) and "
        "liveness gives up first or at the same time (periodSeconds x failureThreshold), a "
        "temporary overload restarts pods, which cascades, instead of shedding load."
    ),
    fix=(
        "Give liveness a cheaper endpoint (does the process respond at all) or a higher "
        "failureThreshold than readiness, so it gives up clearly later."
    ),
    check=_check,
    kube_score=("pod-probes-identical",),
)
