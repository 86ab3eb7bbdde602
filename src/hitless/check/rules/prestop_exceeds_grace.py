"""``prestop-exceeds-grace``: the preStop hook takes the whole grace period."""

from __future__ import annotations

from collections.abc import Iterator

from hitless.check.finding import Finding, Severity
from hitless.check.model import Context
from hitless.check.rule import Rule
from hitless.check.timeline import MINIMUM_GRACE_PERIOD_S, termination


def _check(ctx: Context) -> Iterator[Finding]:
    for w in ctx.workloads:
        for c, path in w.containers():
            t = termination(c, w.grace_s)
            if t.prestop_s is None or not t.has_prestop or t.prestop_s < t.grace_s:
                continue
            yield ctx.finding(
                RULE,
                w.obj,
                f"{path}.lifecycle.preStop",
                f"container {c.name!r}: the preStop hook takes {t.prestop_s:g} s but "
                f"terminationGracePeriodSeconds is {t.grace_s}: the hook is abandoned at {t.grace_s} s, "
                f"the stop signal comes only then, and SIGKILL {MINIMUM_GRACE_PERIOD_S} s later "
                f"(at {t.kill_at_s:g} s): the app has no time to finish its requests",
                numbers={
                    "prestop_s": t.prestop_s,
                    "grace_period_s": t.grace_s,
                    "signal_at_s": t.signal_at_s,
                    "sigkill_at_s": t.kill_at_s,
                },
                fix=(
                    f"Raise terminationGracePeriodSeconds above {t.prestop_s:g} s plus the app's drain time, "
                    "or shorten the preStop delay."
                ),
            )


RULE = Rule(
    id="prestop-exceeds-grace",
    severity=Severity.ERROR,
    summary="preStop lasts as long as terminationGracePeriodSeconds or longer",
    behaviour=(
        "The grace period counts from the deletion and includes the preStop hook. A hook still "
        "running when it ends is abandoned; the container then gets the stop signal and only "
        "the 2-second minimum (minimumGracePeriodInSeconds) before SIGKILL, so in-flight requests "
        "are cut."
    ),
    fix="Make terminationGracePeriodSeconds longer than the preStop delay plus the app's drain.",
    check=_check,
)
