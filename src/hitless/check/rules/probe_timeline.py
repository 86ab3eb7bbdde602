"""``probe-timeline``: how long a failing pod keeps traffic, and a hung container keeps running."""

from __future__ import annotations

from collections.abc import Iterator

from hitless.check.finding import Finding, Number, Severity
from hitless.check.model import Context
from hitless.check.rule import Rule
from hitless.check.timeline import CRASH_LOOP_BACKOFF_MAX_S, ProbeTiming, termination

# The default readiness probe (10 s x 3) plus propagation is ~33 s; twice that is slow on purpose.
SLOW_S = 60.0


def _check(ctx: Context) -> Iterator[Finding]:
    for w in ctx.workloads:
        served = bool(ctx.services_of(w))
        for c, path in w.containers():
            ready, live = c.readiness_probe, c.liveness_probe
            if ready is None and live is None:
                continue
            numbers: dict[str, Number] = {}
            parts = []
            slow = False
            if ready is not None:
                rt = ProbeTiming.of(ready)
                out = rt.detection_s + (ctx.params.propagation_s if served else 0.0)
                numbers["out_of_rotation_s"] = round(out, 3)
                numbers["ready_after_start_s"] = rt.first_success_s
                parts.append(
                    f"a pod that stops answering keeps receiving requests for up to {out:g} s (readiness "
                    f"detection {rt.detection_s} s"
                    + (f" + propagation {ctx.params.propagation_s:g} s)" if served else ")")
                )
                slow = slow or (served and out > SLOW_S)
            if live is not None:
                lt = ProbeTiming.of(live)
                grace = live.termination_grace_period_seconds or w.grace_s
                kill = termination(c, grace).kill_at_s
                numbers["liveness_detection_s"] = lt.detection_s
                numbers["restart_after_hang_s"] = round(lt.detection_s + kill, 3)
                parts.append(
                    f"a hung container is restarted after up to {lt.detection_s + kill:g} s (liveness "
                    f"detection {lt.detection_s} s + stop {kill:g} s)"
                )
            else:
                parts.append("a hung container is never restarted (no liveness probe)")
            numbers["crash_loop_backoff_max_s"] = CRASH_LOOP_BACKOFF_MAX_S
            yield ctx.finding(
                RULE,
                w.obj,
                f"{path}.readinessProbe" if ready is not None else f"{path}.livenessProbe",
                f"container {c.name!r}: " + "; ".join(parts),
                severity=Severity.WARNING if slow else Severity.INFO,
                numbers=numbers,
            )


RULE = Rule(
    id="probe-timeline",
    severity=Severity.WARNING,
    summary="Worst-case time to take a failing pod out of rotation and to restart a hung container",
    behaviour=(
        "The kubelet probes every periodSeconds (from the probe worker's start; a probe longer "
        "than the period holds the next back) and acts after failureThreshold consecutive "
        "failures, each of which may take timeoutSeconds. A readiness verdict then reaches every "
        "node's proxy after the propagation delay; a liveness verdict kills the container with "
        "its preStop hook and grace period, and repeated restarts back off from 10 s to 300 s. "
        "Reported as info; a warning when a failing pod keeps traffic for over a minute."
    ),
    fix="Lower periodSeconds and failureThreshold of readiness (e.g. 2 s x 2) to shed traffic faster.",
    check=_check,
)
