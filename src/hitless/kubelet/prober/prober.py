"""The kubelet's prober: one probe of one kind, with retries on error, mapped and reported.

pkg/kubelet/prober/prober.go: the mechanism is tried up to three times in a row, but only while
it returns an *error* (a timeout or a failure is not retried); a Warning counts as Success and is
reported as a ``ProbeWarning`` Event; every Failure is reported as an ``Unhealthy`` Event — below
the failure threshold too; an error is reported and its result is thrown away by the worker.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from hitless.api.types.pod import Pod, Probe
from hitless.kubelet.format import container_field_path
from hitless.kubelet.prober.probers.base import ProbeOutcome, Prober, ProbeTarget
from hitless.kubelet.prober.results import Result
from hitless.store.events import WARNING, EventRecorder

MAX_PROBE_RETRIES = 3


class ProbeKind(enum.Enum):
    LIVENESS = "Liveness"
    READINESS = "Readiness"
    STARTUP = "Startup"

    def spec(self, container: object) -> Probe | None:
        attribute = {"Liveness": "liveness_probe", "Readiness": "readiness_probe", "Startup": "startup_probe"}
        probe = getattr(container, attribute[self.value], None)
        return probe if isinstance(probe, Probe) else None


@dataclass(frozen=True)
class Verdict:
    """What the worker gets: Success or Failure, and whether it came with an error."""

    result: Result  # SUCCESS or FAILURE only
    errored: bool = False


class KubeletProber:
    def __init__(self, choose: Callable[[Probe], Prober | None], recorder: EventRecorder | None) -> None:
        self._choose = choose
        self._recorder = recorder

    def _event(self, pod: Pod, container: str, reason: str, message: str) -> None:
        if self._recorder is not None:
            self._recorder.event(pod, WARNING, reason, message, container_field_path(pod, container))

    async def probe(self, kind: ProbeKind, probe: Probe, target: ProbeTarget) -> Verdict:
        timeout = float(probe.timeout_seconds or 1)
        prober = self._choose(probe)
        outcome: ProbeOutcome
        if prober is None:
            outcome = ProbeOutcome(Result.UNKNOWN, error=f"missing probe handler for {target.container.name}")
        else:
            for _ in range(MAX_PROBE_RETRIES):
                outcome = await prober.probe(probe, target, timeout)
                if outcome.error is None:
                    break
        name = target.container.name
        if outcome.error is not None:
            self._event(
                target.pod,
                name,
                "Unhealthy",
                f"{kind.value} probe errored and resulted in {outcome.result.value} state: {outcome.error}",
            )
            return Verdict(Result.FAILURE, errored=True)
        if outcome.result is Result.SUCCESS:
            return Verdict(Result.SUCCESS)
        if outcome.result is Result.WARNING:
            self._event(target.pod, name, "ProbeWarning", f"{kind.value} probe warning: {outcome.output}")
            return Verdict(Result.SUCCESS)
        if outcome.result is Result.FAILURE:
            self._event(target.pod, name, "Unhealthy", f"{kind.value} probe failed: {outcome.output}")
        return Verdict(Result.FAILURE)
