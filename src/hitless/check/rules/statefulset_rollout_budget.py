"""``statefulset-rollout-budget``: how long an OrderedReady StatefulSet's rollout takes at least."""

from __future__ import annotations

from collections.abc import Iterator

from hitless.api.types.statefulset import StatefulSet
from hitless.check.finding import Finding, Severity
from hitless.check.model import Context
from hitless.check.rule import Rule
from hitless.check.timeline import ProbeTiming, termination

# Above this a full rollout outlasts what CI jobs and `kubectl rollout status --timeout` usually
# allow (and a Deployment's default progressDeadlineSeconds).
SLOW_S = 600


def _check(ctx: Context) -> Iterator[Finding]:
    for w in ctx.workloads:
        s = w.controller
        if not isinstance(s, StatefulSet) or s.spec.pod_management_policy == "Parallel":
            continue
        if s.spec.update_strategy.type != "RollingUpdate" or w.replicas < 2:
            continue
        # One pod at a time: the old one's whole termination, then the new one's first Ready.
        probes = [c.readiness_probe for c in w.spec.containers if c.readiness_probe is not None]
        ready = max((ProbeTiming.of(p).first_success_s for p in probes), default=0)
        stop = max((termination(c, w.grace_s).kill_at_s for c in w.spec.containers), default=0.0)
        per_pod = stop + ready + (s.spec.min_ready_seconds or 0)
        total = per_pod * w.replicas
        if total < SLOW_S:
            continue
        yield ctx.finding(
            RULE,
            w.obj,
            "spec.podManagementPolicy",
            f"OrderedReady rolls one pod at a time, each only after the one before is Ready: up to "
            f"{per_pod:g} s per pod (termination up to {stop:g} s, first Ready after {ready:g} s"
            f"{f', minReadySeconds {s.spec.min_ready_seconds}' if s.spec.min_ready_seconds else ''}), "
            f"{total:g} s for {w.replicas} pods",
            numbers={"per_pod_s": per_pod, "total_s": total, "replicas": w.replicas},
        )


RULE = Rule(
    id="statefulset-rollout-budget",
    severity=Severity.WARNING,
    summary="An OrderedReady StatefulSet whose full rollout takes more than 10 minutes",
    behaviour=(
        "A StatefulSet's RollingUpdate deletes the pod with the highest ordinal, waits until its "
        "replacement is Running and Ready (and available for minReadySeconds), then goes to the "
        "next: a rollout takes replicas x (termination + start-up to Ready). The termination can "
        "last the whole terminationGracePeriodSeconds."
    ),
    fix=(
        "Shorten terminationGracePeriodSeconds and the readiness probe's delay to what the app "
        "needs, or set rollingUpdate.maxUnavailable to roll several pods at once."
    ),
    check=_check,
)
