"""The interface every probe type implements: one prober per type, one file each.

A prober performs one attempt and says what it found, in the words the kubelet's prober would
put in an Event. The distinction the kubelet's worker cares about is ``error``: a result *with
an error* (a named port that does not exist, a malformed URL, an exec that could not be run for
a reason that is not an exit code or a timeout) is retried up to three times and then thrown
away without changing anything; a plain Failure (refused, timed out, 503, exit 1, NOT_SERVING)
counts toward the thresholds. Sources: pkg/kubelet/prober/prober.go, pkg/probe/*.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from hitless.api.types.pod import Container, Pod, Probe
from hitless.clock import Clock
from hitless.kubelet.prober.results import Result
from hitless.runtime.cri import RuntimeService
from hitless.runtime.network import PodNetwork


@dataclass(frozen=True)
class ProbeOutcome:
    result: Result
    # The probe's output as the kubelet reports it in Unhealthy / ProbeWarning Events, e.g.
    # "HTTP probe failed with statuscode: 503" or the exec command's stdout+stderr.
    output: str = ""
    # Set for a probe *error* (see the module docstring); the result is then Failure or Unknown.
    error: str | None = None


@dataclass(frozen=True)
class ProbeTarget:
    """What is probed: one container instance of one pod."""

    pod: Pod
    container: Container
    container_id: str  # the runtime's id (no "hitless://" prefix)
    pod_ip: str


@dataclass(frozen=True)
class ProberDeps:
    network: PodNetwork  # dials pod IPs inside their network namespace, loopback otherwise
    runtime: RuntimeService  # exec_sync inside the container
    clock: Clock


class Prober(Protocol):
    async def probe(self, probe: Probe, target: ProbeTarget, timeout: float) -> ProbeOutcome:
        """One attempt, bounded by ``timeout`` seconds (the probe's timeoutSeconds)."""
        ...
