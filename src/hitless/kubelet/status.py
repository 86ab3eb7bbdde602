"""The pod status the kubelet generates: container statuses, phase, and the final status.

Pure functions of the pod and the worker's :class:`ContainerView`\\ s, so they are tested without
processes. Sources: pkg/kubelet/kubelet_pods.go (generateAPIPodStatus,
convertToAPIContainerStatuses, getPhase), pkg/kubelet/status/status_manager.go (TerminatePod),
pkg/kubelet/prober/prober_manager.go (UpdatePodStatus: started and ready).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hitless.api.types.pod import (
    ContainerState,
    ContainerStateRunning,
    ContainerStateTerminated,
    ContainerStateWaiting,
    ContainerStatus,
    ContainerUser,
    HostIP,
    LinuxContainerUser,
    Pod,
    PodIP,
    PodStatus,
)
from hitless.kubelet.conditions import carry_transition_times, conditions, has_any_regular_container_started
from hitless.kubelet.prober.manager import ProbeManager
from hitless.kubelet.views import ContainerView, should_restart
from hitless.runtime import cri
from hitless.store.strategy import TERMINAL_PHASES, qos_class

CONTAINER_ID_PREFIX = "hitless://"
STATUS_UNKNOWN_MESSAGE = "The container could not be located when the pod was terminated"


def terminated_state(s: cri.ContainerStatus) -> ContainerState:
    return ContainerState(
        terminated=ContainerStateTerminated(
            exit_code=s.exit_code if s.exit_code is not None else 0,
            reason=s.reason,
            message=s.message or None,
            started_at=s.started_at,
            finished_at=s.finished_at,
            container_id=CONTAINER_ID_PREFIX + s.id,
        )
    )


def _state(s: cri.ContainerStatus) -> ContainerState:
    if s.state is cri.ContainerState.RUNNING:
        return ContainerState(running=ContainerStateRunning(started_at=s.started_at))
    if s.state is cri.ContainerState.EXITED:
        return terminated_state(s)
    # Created but not started, or unknown: "waiting to be running".
    return ContainerState(waiting=ContainerStateWaiting())


def container_status(
    view: ContainerView, pod: Pod, default_waiting: str, started: bool, ready: bool
) -> ContainerStatus:
    """convertToAPIContainerStatuses for one container."""
    latest, previous = view.latest, view.previous
    status = ContainerStatus(name=view.name, image=view.status_image or view.spec.image or "", started=False)
    if latest is None:
        status.state = ContainerState(waiting=ContainerStateWaiting(reason=default_waiting))
    else:
        status.container_id = CONTAINER_ID_PREFIX + latest.id
        status.image_id = view.image_id
        status.restart_count = latest.attempt
        status.state = _state(latest)
        if latest.user is not None:
            # convertContainerStatusUser (SupplementalGroupsPolicy, on by default since 1.33).
            uid, gid, groups = latest.user
            status.user = ContainerUser(
                linux=LinuxContainerUser(uid=uid, gid=gid, supplemental_groups=list(groups))
            )
        if previous is not None:
            status.last_state = _state(previous)
    # A container that will be started again shows why its last start did not happen. An init
    # container that succeeded is never started again.
    succeeded_init = (
        view.init
        and latest is not None
        and latest.state is cri.ContainerState.EXITED
        and latest.exit_code == 0
    )
    if view.waiting is not None and not succeeded_init and should_restart(view, pod):
        if status.state.terminated is not None:
            status.last_state = status.state
        reason, message = view.waiting
        status.state = ContainerState(waiting=ContainerStateWaiting(reason=reason, message=message or None))
    if view.init and not view.sidecar:
        # prober_manager UpdatePodStatus: a regular init container is ready once it succeeded.
        status.started = status.state.running is not None
        status.ready = succeeded_init
    elif status.state.running is not None:
        status.started = started
        status.ready = ready
    return status


# --- phase (kubelet_pods.go getPhase, 1.29+ with sidecars) -------------------------------------


def pod_phase(
    pod: Pod, init_statuses: list[ContainerStatus], app_statuses: list[ContainerStatus], terminal: bool
) -> str:
    """From the API container statuses, as getPhase reads them."""
    restart_policy = pod.spec.restart_policy or "Always"
    pending_init = failed_init = 0
    running = waiting = stopped = succeeded = unknown = 0
    init_by_name = {s.name: s for s in init_statuses}
    for c in pod.spec.init_containers or []:
        st = init_by_name.get(c.name)
        if c.restart_policy == "Always":
            # Sidecars: running ones count as running; terminated ones do not count at all.
            if st is None:
                unknown += 1
            elif st.state.running is not None:
                running += 1
                if not st.started:
                    pending_init += 1
            elif st.state.terminated is not None:
                pass
            elif st.state.waiting is not None:
                if st.last_state.terminated is None:
                    pending_init += 1
                    waiting += 1
            else:
                pending_init += 1
                unknown += 1
        elif st is None or st.state.running is not None:
            pending_init += 1
        elif st.state.terminated is not None:
            if st.state.terminated.exit_code != 0:
                failed_init += 1
        elif st.state.waiting is not None:
            last = st.last_state.terminated
            if last is None:
                pending_init += 1
            elif last.exit_code != 0:
                failed_init += 1
        else:
            pending_init += 1
    app_by_name = {s.name: s for s in app_statuses}
    for c in pod.spec.containers:
        st = app_by_name.get(c.name)
        if st is None:
            unknown += 1
        elif st.state.running is not None:
            running += 1
        elif st.state.terminated is not None:
            stopped += 1
            if st.state.terminated.exit_code == 0:
                succeeded += 1
        elif st.state.waiting is not None:
            if st.last_state.terminated is not None:
                stopped += 1
            else:
                waiting += 1
        else:
            unknown += 1
    if failed_init and restart_policy == "Never":
        return "Failed"
    if (pending_init and not has_any_regular_container_started(pod, app_statuses)) or waiting:
        return "Pending"
    if running and not unknown:
        return "Running"
    if not running and stopped and not unknown:
        if terminal:
            return "Succeeded" if stopped == succeeded else "Failed"
        if restart_policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if restart_policy == "Never":
            return "Failed"
        return "Running"
    return "Pending"


# --- the whole status ----------------------------------------------------------------------------


@dataclass
class PodStatusInput:
    """What generating a pod's status needs beyond its containers."""

    pod: Pod
    host_ip: str
    pod_ip: str | None
    sandbox_ready: bool
    start_time: datetime
    now: datetime


def generate_pod_status(
    inp: PodStatusInput,
    init_views: list[ContainerView],
    app_views: list[ContainerView],
    probes: ProbeManager,
    old: PodStatus,
    terminal: bool,
) -> PodStatus:
    """generateAPIPodStatus. ``old`` is the last status this kubelet generated (or the API's)."""
    pod = inp.pod
    default = "PodInitializing" if init_views else "ContainerCreating"

    def convert(view: ContainerView) -> ContainerStatus:
        cid, running = view.latest_id, view.running
        started = probes.container_started(pod, view.name, cid, running)
        ready = probes.container_ready(pod, view.name, cid, running, started)
        return container_status(view, pod, default, started, ready)

    init_statuses = [convert(v) for v in init_views]
    app_statuses = [convert(v) for v in app_views]
    phase = pod_phase(pod, init_statuses, app_statuses, terminal)
    if phase not in TERMINAL_PHASES and old.phase in TERMINAL_PHASES:
        phase = old.phase  # a terminal phase is never left
    conds = conditions(pod, init_statuses, app_statuses, phase, inp.sandbox_ready)
    carry_transition_times(conds, old.conditions, inp.now)
    status = PodStatus(
        phase=phase,
        conditions=conds,
        host_ip=inp.host_ip,
        host_ips=[HostIP(ip=inp.host_ip)],
        pod_ip=inp.pod_ip,
        pod_ips=[PodIP(ip=inp.pod_ip)] if inp.pod_ip else None,
        start_time=inp.start_time,
        init_container_statuses=init_statuses or None,
        container_statuses=app_statuses,
        qos_class=qos_class(pod),
    )
    if phase == old.phase:
        status.reason, status.message = old.reason, old.message
    return status


# --- the end of the pod's life (status_manager.go TerminatePod) ---------------------------------


def _unknown_terminated() -> ContainerState:
    return ContainerState(
        terminated=ContainerStateTerminated(
            exit_code=137, reason="ContainerStatusUnknown", message=STATUS_UNKNOWN_MESSAGE
        )
    )


def _has_initialized(pod: Pod, status: PodStatus) -> bool:
    """status_manager.go hasPodInitialized."""
    init = pod.spec.init_containers or []
    if not init:
        return True
    for s in status.container_statuses or []:
        if s.last_state.terminated is not None or s.state.waiting is None:
            return True
    statuses = status.init_container_statuses or []
    if statuses:
        last, spec = statuses[-1], init[len(statuses) - 1]
        if spec.restart_policy == "Always":
            return last.state.running is not None and bool(last.started)
        for state in (last.last_state, last.state):
            if state.terminated is not None and state.terminated.exit_code == 0:
                return True
    return False


def terminate_pod_status(pod: Pod, status: PodStatus) -> PodStatus:
    """The final status: nothing is left running or waiting, and the phase is terminal.

    A container that never got a terminated state (waiting in a crash loop, never started in an
    initialized pod) is reported terminated with ContainerStatusUnknown, exit code 137; of the
    init containers, all but the trailing ones that never started are. Pending or Running
    becomes Failed: a pod is moved to a terminal phase before it is removed.
    """
    final = status.copy_deep()
    if _has_initialized(pod, status):
        for s in final.container_statuses or []:
            if s.state.terminated is None:
                s.state = _unknown_terminated()
    inits = final.init_container_statuses or []
    attempted = len(inits)
    while attempted > 1 and inits[attempted - 1].state.waiting is not None:
        if inits[attempted - 1].last_state.terminated is not None:
            break
        attempted -= 1
    for s in inits[:attempted]:
        if s.state.terminated is None:
            s.state = _unknown_terminated()
    if final.phase not in TERMINAL_PHASES:
        final.phase = "Failed"
    return final
