"""``liveness-without-startup-probe``: a long liveness initialDelaySeconds instead of a startup probe."""

from __future__ import annotations

from collections.abc import Iterator

from hitless.check.finding import Finding, Severity
from hitless.check.model import Context
from hitless.check.rule import Rule
from hitless.check.timeline import ProbeTiming

# Past this a liveness delay is a start-up allowance, which a startup probe gives without
# blinding liveness for that long after every restart.
LONG_INITIAL_DELAY_S = 10


def _check(ctx: Context) -> Iterator[Finding]:
    for w in ctx.workloads:
        for c, path in w.containers():
            live = c.liveness_probe
            if live is None:
                continue
            lt = ProbeTiming.of(live)
            if c.startup_probe is not None or lt.initial_delay < LONG_INITIAL_DELAY_S:
                continue
            yield ctx.finding(
                RULE,
                w.obj,
                f"{path}.livenessProbe.initialDelaySeconds",
                f"container {c.name!r}: liveness waits initialDelaySeconds {lt.initial_delay} s with no "
                f"startup probe: a container that starts slower than {lt.budget_s} s (initialDelay + "
                f"period {lt.period} x failureThreshold {lt.failure}) is killed before it is up, one "
                f"that hangs later is still detected only after {lt.detection_s} s, and every restart "
                f"leaves it unwatched for {lt.initial_delay} s",
                numbers={
                    "liveness_initial_delay_s": lt.initial_delay,
                    "startup_budget_s": lt.budget_s,
                    "liveness_detection_s": lt.detection_s,
                },
                fix=(
                    f"Add a startupProbe on the same endpoint with periodSeconds {min(lt.period, 5)} and "
                    f"failureThreshold {-(-lt.budget_s // min(lt.period, 5))} (the same {lt.budget_s} s "
                    "budget), and drop liveness's initialDelaySeconds."
                ),
            )


RULE = Rule(
    id="liveness-without-startup-probe",
    severity=Severity.WARNING,
    summary="Liveness relies on a long initialDelaySeconds instead of a startup probe",
    behaviour=(
        "A startup probe holds liveness and readiness back until it first succeeds, and gives a "
        "slow start a budget of initialDelaySeconds + periodSeconds x failureThreshold. Without "
        "one, liveness's initialDelaySeconds is a fixed guess: too short and a slow start is "
        "killed in a loop (CrashLoopBackOff), long and a hang after each restart goes unseen."
    ),
    fix="Add a startupProbe with the start-up budget and keep liveness's initialDelaySeconds at 0.",
    check=_check,
)
