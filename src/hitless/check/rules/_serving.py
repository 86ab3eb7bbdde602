"""How long a terminating pod keeps serving new requests after its deletion, as far as the spec says."""

from __future__ import annotations

from dataclasses import dataclass

from hitless.api.types.pod import Container
from hitless.check import apps
from hitless.check.timeline import Termination, termination


@dataclass(frozen=True)
class Serving:
    termination: Termination
    app: apps.DemoApp | None
    until_s: float  # seconds after the deletion during which new requests are still served
    explained: str

    @property
    def known(self) -> bool:
        """Whether the app's SIGTERM behaviour is known (hitless demo-app), not assumed."""
        return self.app is not None


def serving(container: Container, grace_s: int) -> Serving | None:
    """None when the preStop hook's length cannot be told (an httpGet hook, a script)."""
    t = termination(container, grace_s)
    if t.prestop_s is None:
        return None
    app = apps.demo_app(container)
    hook = f"preStop {t.prestop_s:g} s" if t.has_prestop else "no preStop delay"
    if t.prestop_s > grace_s:
        hook += f" (cut at the grace period, {grace_s} s)"
    if app is None:
        return Serving(t, None, t.signal_at_s, f"{hook}, then SIGTERM (an app that stops listening at once)")
    keep = app.serves_after_sigterm_s
    if keep is None:
        return Serving(
            t, app, t.kill_at_s, f"{hook}; the app ignores SIGTERM until SIGKILL at {t.kill_at_s:g} s"
        )
    until = min(t.signal_at_s + keep, t.kill_at_s)
    return Serving(t, app, until, f"{hook} + the app serving {keep:g} s after SIGTERM")
