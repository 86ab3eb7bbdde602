"""The timeline a configuration implies, in seconds, worst case, from the kubelet's own rules.

Sources (``../shared/reference/kubelet.md``): probe defaults (``SetDefaults_Probe``), the probe
worker's ticker (a probe every ``periodSeconds`` counted from the worker's start; a probe that
takes longer than the period delays the next one, missed ticks are dropped), thresholds of
consecutive results, ``killContainer`` (preStop counted against the grace period in whole seconds,
abandoned when it overruns, then at least 2 s for the stop signal: ``minimumGracePeriodInSeconds``).
"""

from __future__ import annotations

from dataclasses import dataclass

from hitless.api.types.pod import Container, Probe
from hitless.check import apps

MINIMUM_GRACE_PERIOD_S = 2  # kuberuntime_manager.go minimumGracePeriodInSeconds
CRASH_LOOP_BACKOFF_MAX_S = 300


@dataclass(frozen=True)
class ProbeTiming:
    initial_delay: int
    period: int
    timeout: int
    success: int
    failure: int

    @classmethod
    def of(cls, probe: Probe) -> ProbeTiming:
        # Zero or unset means the default, as SetDefaults_Probe makes it.
        return cls(
            max(probe.initial_delay_seconds or 0, 0),
            probe.period_seconds or 10,
            probe.timeout_seconds or 1,
            probe.success_threshold or 1,
            probe.failure_threshold or 3,
        )

    @property
    def detection_s(self) -> int:
        """From the app going bad to the probe's verdict: the probe in flight may still pass, the
        next starts within a period, then ``failureThreshold`` failures, each taking up to the
        timeout when the app hangs (and holding the next probe back if longer than the period)."""
        return self.period + (self.failure - 1) * max(self.period, self.timeout) + self.timeout

    @property
    def budget_s(self) -> int:
        """How long a container may take to start before this probe gives up on it (startup
        probe; or liveness with no startup probe): initialDelay + period x failureThreshold."""
        return self.initial_delay + self.period * self.failure

    @property
    def first_success_s(self) -> int:
        """The latest the first ``successThreshold`` successes come, for an app ready at once."""
        return self.initial_delay + self.period * self.success

    def gives_up(self) -> int:
        """Consecutive failures x period: the comparison kube-score#285 asks for."""
        return self.period * self.failure


@dataclass(frozen=True)
class Termination:
    """What happens to one container when its pod is deleted."""

    grace_s: int
    prestop_s: float | None  # None: a hook whose length cannot be told (httpGet, a script)
    has_prestop: bool

    @property
    def signal_at_s(self) -> float:
        """When the stop signal is sent: after the hook, or when the grace period ran out in it."""
        return min(self.prestop_s or 0.0, float(self.grace_s))

    @property
    def after_signal_s(self) -> float:
        """Time the process gets between the stop signal and SIGKILL."""
        return max(self.grace_s - _whole(self.signal_at_s), MINIMUM_GRACE_PERIOD_S)

    @property
    def kill_at_s(self) -> float:
        return self.signal_at_s + self.after_signal_s


def _whole(seconds: float) -> int:
    # The kubelet deducts the hook's time in whole seconds (int64(time.Since(start).Seconds())).
    return int(seconds)


def prestop_seconds(container: Container) -> tuple[bool, float | None]:
    """(has a preStop hook, how long it delays the stop signal if that can be told)."""
    hook = container.lifecycle.pre_stop if container.lifecycle else None
    if hook is None:
        return False, 0.0
    if hook.sleep is not None:
        return True, float(hook.sleep.seconds)
    if hook.exec is not None:
        return True, apps.exec_sleep_seconds(hook.exec)
    return True, None


def termination(container: Container, grace_s: int) -> Termination:
    has, seconds = prestop_seconds(container)
    return Termination(grace_s, seconds, has)


def fmt(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    return f"{seconds:g} s"
