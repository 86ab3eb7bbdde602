"""Pod status as the kubelet generates it: container statuses, conditions and phase.

Pure functions of the pod spec and what the runtime reports, so they are tested without
processes. Sources: pkg/kubelet/kubelet_pods.go (convertToAPIContainerStatuses, getPhase),
pkg/kubelet/status/generate.go (conditions).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hitless.api.types.pod import (
    Container,
    ContainerState,
    ContainerStateRunning,
    ContainerStateTerminated,
    ContainerStateWaiting,
    ContainerStatus,
    Pod,
    PodCondition,
)
from hitless.runtime import cri

CONTAINER_ID_PREFIX = "hitless://"


@dataclass
class ContainerView:
    """What the pod worker knows about one container of the spec."""

    spec: Container
    latest: cri.ContainerStatus | None = None
    previous: cri.ContainerStatus | None = None
    # Why the container is not running now although it should be (CrashLoopBackOff,
    # ErrImagePull, CreateContainerConfigError, RunContainerError, PostStartHookError...).
    waiting: tuple[str, str] | None = None
    # postStart is running: the API still shows the container as being created.
    creating: bool = False
    image_id: str = ""
    started: bool = False
    ready: bool = False

    @property
    def running(self) -> bool:
        return (
            self.latest is not None and self.latest.state is cri.ContainerState.RUNNING and not self.creating
        )


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


def container_status(view: ContainerView, default_waiting: str) -> ContainerStatus:
    latest, previous = view.latest, view.previous
    status = ContainerStatus(
        name=view.spec.name,
        image=view.spec.image or "",
        image_id=view.image_id if latest is not None else "",
        started=False,
    )
    if latest is None:
        reason, message = view.waiting or (default_waiting, "")
        status.state = ContainerState(waiting=ContainerStateWaiting(reason=reason, message=message or None))
        return status
    status.container_id = CONTAINER_ID_PREFIX + latest.id
    status.restart_count = latest.attempt
    if previous is not None and previous.state is cri.ContainerState.EXITED:
        status.last_state = terminated_state(previous)
    if view.creating:
        status.state = ContainerState(waiting=ContainerStateWaiting(reason="ContainerCreating"))
    elif latest.state is cri.ContainerState.RUNNING:
        status.state = ContainerState(running=ContainerStateRunning(started_at=latest.started_at))
        status.started = view.started
        status.ready = view.ready
    elif latest.state is cri.ContainerState.EXITED:
        if view.waiting is not None:
            # Will be restarted: waiting with the reason, the exit moves to lastState.
            reason, message = view.waiting
            status.state = ContainerState(
                waiting=ContainerStateWaiting(reason=reason, message=message or None)
            )
            status.last_state = terminated_state(latest)
        else:
            status.state = terminated_state(latest)
    else:
        status.state = ContainerState(waiting=ContainerStateWaiting())
    return status


def init_container_ready(view: ContainerView) -> bool:
    latest = view.latest
    return latest is not None and latest.state is cri.ContainerState.EXITED and latest.exit_code == 0


# --- phase (kubelet_pods.go getPhase, 1.29+ with sidecars) -------------------------------------


def pod_phase(
    pod: Pod, init_statuses: list[ContainerStatus], app_statuses: list[ContainerStatus], terminal: bool
) -> str:
    """From the API container statuses, as getPhase reads them."""
    restart_policy = pod.spec.restart_policy or "Always"
    pending_init = failed_init = 0
    init_by_name = {s.name: s for s in init_statuses}
    for c in pod.spec.init_containers or []:
        st = init_by_name.get(c.name)
        if st is None:
            pending_init += 1
            continue
        if c.restart_policy == "Always":
            # Terminated sidecars do not count; a sidecar holds initialization until started.
            not_started = st.state.running is not None and not st.started
            never_ran = st.state.waiting is not None and st.last_state.terminated is None
            if not_started or never_ran:
                pending_init += 1
            continue
        if st.state.running is not None:
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
    running = waiting = stopped = succeeded = unknown = 0
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
    any_app_started = running > 0 or stopped > 0
    if failed_init and restart_policy == "Never":
        return "Failed"
    if (pending_init and not any_app_started) or waiting:
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


# --- conditions (status/generate.go) ------------------------------------------------------------


def _names(names: list[str]) -> str:
    return "[" + " ".join(names) + "]"


def _condition(type_: str, ok: bool, reason: str | None = None, message: str | None = None) -> PodCondition:
    return PodCondition(type=type_, status="True" if ok else "False", reason=reason, message=message or None)


def conditions(
    pod: Pod,
    init: list[ContainerView],
    init_statuses: list[ContainerStatus],
    app_statuses: list[ContainerStatus],
    phase: str,
    sandbox_ready: bool,
) -> list[PodCondition]:
    result = [_condition("PodReadyToStartContainers", sandbox_ready)]
    result.append(_initialized(pod, init_statuses, app_statuses, phase))
    ready = _containers_ready(pod, [*init_statuses, *app_statuses], phase)
    pod_ready = PodCondition(type="Ready", status=ready.status, reason=ready.reason, message=ready.message)
    if ready.status == "True":
        pod_ready = _readiness_gates(pod)
    result.append(pod_ready)
    result.append(ready)
    result.append(_condition("PodScheduled", True))
    return result


def _initialized(
    pod: Pod, init_statuses: list[ContainerStatus], app_statuses: list[ContainerStatus], phase: str
) -> PodCondition:
    if not pod.spec.init_containers:
        return _condition("Initialized", True)
    by_name = {s.name: s for s in init_statuses}
    incomplete = []
    for c in pod.spec.init_containers:
        s = by_name.get(c.name)
        if s is None:
            continue
        if c.restart_policy == "Always":
            if not s.started:
                incomplete.append(c.name)
        elif not s.ready:
            incomplete.append(c.name)
    if phase == "Succeeded":
        return _condition("Initialized", True, "PodCompleted")
    # Once any regular container has started the pod stays initialized (sidecar restarts).
    if any(s.state.waiting is None or s.restart_count > 0 or s.last_state.terminated for s in app_statuses):
        return _condition("Initialized", True)
    if incomplete:
        return _condition(
            "Initialized",
            False,
            "ContainersNotInitialized",
            f"containers with incomplete status: {_names(incomplete)}",
        )
    return _condition("Initialized", True)


def _containers_ready(pod: Pod, statuses: list[ContainerStatus], phase: str) -> PodCondition:
    if phase == "Succeeded":
        return _condition("ContainersReady", False, "PodCompleted")
    if phase == "Failed":
        return _condition("ContainersReady", False, "PodFailed")
    by_name = {s.name: s for s in statuses}
    unready = [
        c.name
        for c in [*pod.spec.sidecars(), *pod.spec.containers]
        if not (by_name.get(c.name) and by_name[c.name].ready)
    ]
    if unready:
        return _condition(
            "ContainersReady",
            False,
            "ContainersNotReady",
            f"containers with unready status: {_names(unready)}",
        )
    return _condition("ContainersReady", True)


def _readiness_gates(pod: Pod) -> PodCondition:
    for gate in pod.spec.readiness_gates or []:
        cond = pod.status.condition(gate.condition_type)
        if cond is None:
            return _condition(
                "Ready",
                False,
                "ReadinessGatesNotReady",
                f'corresponding condition of pod readiness gate "{gate.condition_type}" does not exist.',
            )
        if cond.status != "True":
            return _condition(
                "Ready",
                False,
                "ReadinessGatesNotReady",
                f'the status of pod readiness gate "{gate.condition_type}" is not "True", but {cond.status}',
            )
    return _condition("Ready", True)


def carry_transition_times(new: list[PodCondition], old: list[PodCondition] | None, now: datetime) -> None:
    """A condition's lastTransitionTime moves only when its status changes."""
    previous = {c.type: c for c in old or []}
    for c in new:
        before = previous.get(c.type)
        c.last_transition_time = (
            before.last_transition_time if before is not None and before.status == c.status else now
        )


def qos_class(pod: Pod) -> str:
    """BestEffort, Burstable or Guaranteed (pkg/apis/core/v1/helper/qos), by requests and limits."""
    containers = [*(pod.spec.init_containers or []), *pod.spec.containers]
    any_set = False
    guaranteed = True
    for c in containers:
        resources = (c.model_extra or {}).get("resources") or {}
        requests = resources.get("requests") or {}
        limits = resources.get("limits") or {}
        if requests or limits:
            any_set = True
        for name in ("cpu", "memory"):
            limit = limits.get(name)
            if limit is None or str(requests.get(name, limit)) != str(limit):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"
