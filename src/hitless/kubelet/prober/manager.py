"""The probe manager: the kubelet's view of probe results.

The kubelet asks it three things, as in pkg/kubelet/prober/prober_manager.go: is this container
instance ``started`` (startup gate), is it ``ready`` (readiness), and has liveness or startup
failed so that the container must be killed. It is told when pods come and go and when a pod
starts terminating (liveness and startup stop, readiness goes on).

This version has no probe workers yet: a running container is started and ready, which is what
the kubelet reports for containers without probes. Probe workers plug in behind the same calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hitless.api.types.pod import Pod


@dataclass(frozen=True)
class KillDecision:
    """Why a running container must be killed: the Killing message and the kill reason."""

    message: str
    reason: str  # "LivenessProbe" or "StartupProbe" (containerKillReason)


class ProbeManager:
    def __init__(self, on_change: Callable[[str], None] | None = None) -> None:
        # Called with a pod UID whenever a result changes that the pod's status or sync depends on.
        self._on_change = on_change or (lambda uid: None)

    def add_pod(self, pod: Pod) -> None:
        """Start probe workers for the pod's containers (and sidecars)."""

    def stop_liveness_and_startup(self, pod: Pod) -> None:
        """Termination began: liveness and startup stop; readiness keeps probing."""

    def remove_pod(self, pod: Pod) -> None:
        """Every container has stopped: stop all workers of the pod."""

    def container_started(self, pod: Pod, container: str, container_id: str, running: bool) -> bool:
        return running

    def container_ready(
        self, pod: Pod, container: str, container_id: str, running: bool, started: bool
    ) -> bool:
        return running and started

    def kill_decision(self, pod: Pod, container: str, container_id: str) -> KillDecision | None:
        """Non-None when liveness or startup has failed for this container instance."""
        return None
