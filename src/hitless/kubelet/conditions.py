"""The pod conditions the kubelet owns, as pkg/kubelet/status/generate.go generates them.

``conditions`` returns the status's whole condition list in the kubelet's order: the conditions
it does not own (readiness gates' conditions, DisruptionTarget...) copied first, then
PodReadyToStartContainers, Initialized, Ready, ContainersReady, PodScheduled.
"""

from __future__ import annotations

from datetime import datetime

from hitless.api.types.pod import ContainerStatus, Pod, PodCondition

KUBELET_CONDITIONS = frozenset(
    {"PodScheduled", "Ready", "Initialized", "ContainersReady", "PodReadyToStartContainers"}
)


def _go_list(names: list[str]) -> str:
    """fmt's %s of a []string: [a b]."""
    return "[" + " ".join(names) + "]"


def _condition(type_: str, ok: bool, reason: str | None = None, message: str | None = None) -> PodCondition:
    return PodCondition(type=type_, status="True" if ok else "False", reason=reason, message=message or None)


def has_any_regular_container_started(pod: Pod, statuses: list[ContainerStatus]) -> bool:
    """pkg/kubelet/container/helpers.go HasAnyRegularContainerStarted: running or terminated."""
    names = {c.name for c in pod.spec.containers}
    return any(
        s.name in names and (s.state.running is not None or s.state.terminated is not None) for s in statuses
    )


def containers_ready(pod: Pod, statuses: list[ContainerStatus], phase: str) -> PodCondition:
    by_name = {s.name: s for s in statuses}
    unknown: list[str] = []
    unready: list[str] = []
    for c in [*pod.spec.sidecars(), *pod.spec.containers]:
        status = by_name.get(c.name)
        if status is None:
            unknown.append(c.name)
        elif not status.ready:
            unready.append(c.name)
    if phase == "Succeeded" and not unknown:
        return _condition("ContainersReady", False, "PodCompleted")
    if phase == "Failed":
        # Containers may still be terminating, but the pod's are done.
        return _condition("ContainersReady", False, "PodFailed")
    messages = []
    if unknown:
        messages.append(f"containers with unknown status: {_go_list(unknown)}")
    if unready:
        messages.append(f"containers with unready status: {_go_list(unready)}")
    if messages:
        return _condition("ContainersReady", False, "ContainersNotReady", ", ".join(messages))
    return _condition("ContainersReady", True)


def pod_ready(
    pod: Pod, others: list[PodCondition], statuses: list[ContainerStatus], phase: str
) -> PodCondition:
    ready = containers_ready(pod, statuses, phase)
    if ready.status != "True":
        return PodCondition(type="Ready", status=ready.status, reason=ready.reason, message=ready.message)
    by_type = {c.type: c for c in others}
    messages = []
    for gate in pod.spec.readiness_gates or []:
        cond = by_type.get(gate.condition_type)
        if cond is None:
            messages.append(
                f'corresponding condition of pod readiness gate "{gate.condition_type}" does not exist.'
            )
        elif cond.status != "True":
            messages.append(
                f'the status of pod readiness gate "{gate.condition_type}" is not "True", but {cond.status}'
            )
    if messages:
        return _condition("Ready", False, "ReadinessGatesNotReady", ", ".join(messages))
    return _condition("Ready", True)


def initialized(pod: Pod, statuses: list[ContainerStatus], phase: str) -> PodCondition:
    init = pod.spec.init_containers or []
    by_name = {s.name: s for s in statuses}
    unknown: list[str] = []
    incomplete: list[str] = []
    for c in init:
        status = by_name.get(c.name)
        if status is None:
            unknown.append(c.name)
        elif not (status.started if c.restart_policy == "Always" else status.ready):
            incomplete.append(c.name)
    if phase == "Succeeded" and not unknown:
        return _condition("Initialized", True, "PodCompleted")
    # A pod whose regular containers have run stays initialized while sidecars restart.
    if has_any_regular_container_started(pod, statuses):
        return _condition("Initialized", True)
    messages = []
    if unknown:
        messages.append(f"containers with unknown status: {_go_list(unknown)}")
    if incomplete:
        messages.append(f"containers with incomplete status: {_go_list(incomplete)}")
    if messages:
        return _condition("Initialized", False, "ContainersNotInitialized", ", ".join(messages))
    return _condition("Initialized", True)


def conditions(
    pod: Pod,
    init_statuses: list[ContainerStatus],
    app_statuses: list[ContainerStatus],
    phase: str,
    sandbox_ready: bool,
) -> list[PodCondition]:
    """generateAPIPodStatus's conditions: the ones the kubelet does not own are kept first."""
    others = [c for c in pod.status.conditions or [] if c.type not in KUBELET_CONDITIONS]
    statuses = [*init_statuses, *app_statuses]
    return [
        *others,
        _condition("PodReadyToStartContainers", sandbox_ready),
        initialized(pod, statuses, phase),
        pod_ready(pod, others, statuses, phase),
        containers_ready(pod, statuses, phase),
        _condition("PodScheduled", True),
    ]


def carry_transition_times(new: list[PodCondition], old: list[PodCondition] | None, now: datetime) -> None:
    """The status manager's updateLastTransitionTime, for the conditions the kubelet owns.

    A condition's lastTransitionTime moves only when its status changes; conditions copied
    from the old status keep theirs.
    """
    previous = {c.type: c for c in old or []}
    for c in new:
        if c.type not in KUBELET_CONDITIONS:
            continue
        before = previous.get(c.type)
        c.last_transition_time = (
            before.last_transition_time if before is not None and before.status == c.status else now
        )
