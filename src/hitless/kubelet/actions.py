"""What one sync does: kuberuntime_manager.go computePodActions and computeInitContainerActions.

A pure function of the pod, the worker's container views and the probe results, computed at the
start of a sync from what the runtime reports, as the kubelet does. The worker then carries the
actions out in SyncPod's order: kill, start init containers, start app containers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hitless.api.types.pod import Pod
from hitless.kubelet.prober.manager import ProbeManager
from hitless.kubelet.views import ContainerView, init_container_failed, should_restart
from hitless.runtime import cri

# containerKillReason values (kuberuntime_container.go).
REASON_STARTUP_PROBE = "StartupProbe"
REASON_LIVENESS_PROBE = "LivenessProbe"
REASON_FAILED_POST_START = "FailedPostStartHook"
REASON_UNKNOWN = ""


@dataclass(frozen=True)
class Kill:
    view: ContainerView
    container_id: str
    message: str
    reason: str


@dataclass
class PodActions:
    # No container is to be kept or started: stop everything, sandbox included.
    kill_pod: bool = False
    kill: list[Kill] = field(default_factory=list)
    init_to_start: list[ContainerView] = field(default_factory=list)
    to_start: list[ContainerView] = field(default_factory=list)


def _probe_message(kind: str, name: str, reason: str) -> str:
    what = "startup" if reason == REASON_STARTUP_PROBE else "liveness"
    return f"{kind} {name} failed {what} probe"


def _init_actions(
    pod: Pod,
    init_views: list[ContainerView],
    app_views: list[ContainerView],
    probes: ProbeManager,
    actions: PodActions,
) -> bool:
    """computeInitContainerActions; True once the pod is initialized.

    Init containers are walked from the last one back, because the kubelet relies on the newest
    evidence: the last init container with a status says how far initialization got, and every
    sidecar before it has to be kept running.
    """
    if not init_views:
        return True
    initialized = any(
        v.latest is not None and v.latest.state in (cri.ContainerState.CREATED, cri.ContainerState.RUNNING)
        for v in app_views
    )
    previously = initialized
    restart_on_failure = (pod.spec.restart_policy or "Always") != "Never"
    last = len(init_views) - 1
    to_start: list[int] = []
    for i in range(last, -1, -1):
        view = init_views[i]
        status = view.latest
        if status is None:
            if previously and view.sidecar:
                to_start.append(i)
            continue
        if previously and not view.sidecar:
            continue  # after initialization only sidecars are kept running
        if status.state is cri.ContainerState.CREATED:
            to_start.append(i)
        elif status.state is cri.ContainerState.RUNNING:
            if view.sidecar and _sidecar_running(
                pod, view, status.id, i, last, previously, probes, actions, to_start
            ):
                initialized = True
        elif status.state is cri.ContainerState.EXITED:
            if view.sidecar:
                to_start.append(i)
            elif init_container_failed(status):
                if not restart_on_failure:
                    actions.kill_pod = True
                    actions.init_to_start = []
                    return False
                to_start.append(i)
            elif i == last:
                initialized = True
            else:
                to_start.append(i + 1)
        else:  # unknown: kill it before starting it again
            if not view.sidecar and not restart_on_failure:
                actions.kill_pod = True
                actions.init_to_start = []
                return False
            message = 'Init container is in "unknown" state, try killing it before restart'
            actions.kill.append(Kill(view, status.id, message, REASON_UNKNOWN))
            to_start.append(i)
        previously = True
    if not previously:
        to_start.append(0)
    actions.init_to_start = [init_views[i] for i in reversed(to_start)]
    return initialized


def _sidecar_running(
    pod: Pod,
    view: ContainerView,
    container_id: str,
    i: int,
    last: int,
    previously: bool,
    probes: ProbeManager,
    actions: PodActions,
    to_start: list[int],
) -> bool:
    """A running sidecar; True when it completes initialization (it is the last init container)."""
    decision = probes.kill_decision(pod, view.name, container_id)

    def kill_and_restart(reason: str) -> None:
        message = _probe_message("Init container", view.name, reason)
        actions.kill.append(Kill(view, container_id, message, reason))
        to_start.append(i)

    if decision is not None and decision.reason == REASON_STARTUP_PROBE:
        kill_and_restart(decision.reason)
        return False
    if not probes.container_started(pod, view.name, container_id, True):
        return False  # its startup probe has not succeeded yet: the next one waits
    done = i == last
    if not done and not previously:
        to_start.append(i + 1)  # started for the first time: on to the next init container
    if decision is not None:
        # A sidecar's liveness failure restarts it whatever the pod's restartPolicy.
        kill_and_restart(decision.reason)
    return done


def compute_pod_actions(
    pod: Pod, init_views: list[ContainerView], app_views: list[ContainerView], probes: ProbeManager
) -> PodActions:
    actions = PodActions()
    if not _init_actions(pod, init_views, app_views, probes, actions) or actions.kill_pod:
        return actions
    keep = 0
    restart = (pod.spec.restart_policy or "Always") != "Never"
    for view in app_views:
        status = view.latest
        if status is None or status.state is not cri.ContainerState.RUNNING:
            if should_restart(view, pod):
                actions.to_start.append(view)
                if status is not None and status.state is cri.ContainerState.UNKNOWN:
                    message = 'Container is in "unknown" state, try killing it before restart'
                    actions.kill.append(Kill(view, status.id, message, REASON_UNKNOWN))
            continue
        decision = probes.kill_decision(pod, view.name, status.id)
        if decision is None:
            keep += 1
            continue
        # The restart is decided before the kill, from the policy alone: an OnFailure container
        # killed by its liveness probe is restarted even if it then exits 0.
        message = _probe_message("Container", view.name, decision.reason)
        if restart:
            message += ", will be restarted"
            actions.to_start.append(view)
        actions.kill.append(Kill(view, status.id, message, decision.reason))
    if keep == 0 and not actions.to_start:
        actions.kill_pod = True
        actions.init_to_start = []  # sidecars must not keep a finished pod alive
    return actions
