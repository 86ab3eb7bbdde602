"""``grace-shorter-than-drain``: SIGKILL comes before the app's drain can end."""

from __future__ import annotations

from collections.abc import Iterator

from hitless.check import apps
from hitless.check.finding import Finding, Severity
from hitless.check.model import Context
from hitless.check.rule import Rule
from hitless.check.timeline import termination


def _check(ctx: Context) -> Iterator[Finding]:
    for w in ctx.workloads:
        for c, path in w.containers():
            app = apps.demo_app(c)
            t = termination(c, w.grace_s)
            if app is None or t.prestop_s is None:
                continue
            if app.serves_after_sigterm_s is None:
                yield ctx.finding(
                    RULE,
                    w.obj,
                    f"{path}.args",
                    f"container {c.name!r}: the app does not stop on SIGTERM (--on-sigterm {app.on_sigterm}"
                    f"{', and PID 1 ignores an unhandled signal' if app.on_sigterm == 'default' else ''}): "
                    f"every deletion waits the whole grace period and ends in SIGKILL at {t.kill_at_s:g} s, "
                    "cutting in-flight requests",
                    severity=Severity.WARNING,
                    numbers={"grace_period_s": t.grace_s, "sigkill_at_s": t.kill_at_s},
                    fix="Handle SIGTERM: stop accepting, finish in-flight requests, exit.",
                )
                continue
            need = t.signal_at_s + app.drain_s
            in_flight = min(app.drain_timeout_s, app.max_latency_s)
            hook = f", preStop {t.prestop_s:g} s" if t.has_prestop else ""
            if need <= t.kill_at_s or app.drain_s == 0:
                continue
            yield ctx.finding(
                RULE,
                w.obj,
                "spec.terminationGracePeriodSeconds"
                if w.pod_path == "spec"
                else "spec.template.spec.terminationGracePeriodSeconds",
                f"container {c.name!r}: the app needs {app.drain_s:g} s after SIGTERM (serving "
                f"{app.shutdown_delay_s:g} s, then requests of up to {in_flight:g} s), "
                f"which ends {need:g} s after the deletion, but SIGKILL comes at {t.kill_at_s:g} s "
                f"(grace {t.grace_s} s{hook}): "
                f"requests in flight then are cut",
                numbers={
                    "prestop_s": t.prestop_s,
                    "drain_s": app.drain_s,
                    "needed_s": need,
                    "grace_period_s": t.grace_s,
                    "sigkill_at_s": t.kill_at_s,
                },
                fix=f"Set terminationGracePeriodSeconds to at least {int(-(-need // 1)) + 1}.",
            )


RULE = Rule(
    id="grace-shorter-than-drain",
    severity=Severity.ERROR,
    summary="terminationGracePeriodSeconds is shorter than preStop plus the app's drain",
    behaviour=(
        "After the preStop hook the kubelet sends the stop signal and waits what is left of the "
        "grace period (at least 2 s), then SIGKILLs the container: whatever the app was still "
        "answering is cut (connection reset). Judged where the app's drain is known (hitless "
        "demo-app: --shutdown-delay, --drain-timeout, --latency)."
    ),
    fix="Make terminationGracePeriodSeconds exceed the preStop delay plus the app's whole drain.",
    check=_check,
)
