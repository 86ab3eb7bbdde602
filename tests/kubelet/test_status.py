"""Status generation as pure functions: getPhase, the conditions, TerminatePod, the reason cache."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hitless.api.types.pod import (
    ContainerState,
    ContainerStateRunning,
    ContainerStateTerminated,
    ContainerStateWaiting,
    ContainerStatus,
    PodCondition,
    PodStatus,
)
from hitless.kubelet.conditions import carry_transition_times, conditions
from hitless.kubelet.status import container_status, pod_phase, terminate_pod_status
from hitless.kubelet.views import ContainerView
from hitless.runtime import cri

from .conftest import make_pod

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SIDECAR = {"name": "proxy", "image": "x", "restartPolicy": "Always"}


def running(name: str, started: bool = True, ready: bool = True) -> ContainerStatus:
    state = ContainerState(running=ContainerStateRunning(started_at=T0))
    return ContainerStatus(name=name, state=state, started=started, ready=ready)


def terminated(name: str, code: int = 0) -> ContainerStatus:
    return ContainerStatus(
        name=name,
        state=ContainerState(terminated=ContainerStateTerminated(exit_code=code, reason="Completed")),
    )


def waiting(name: str, reason: str = "ContainerCreating", last_code: int | None = None) -> ContainerStatus:
    status = ContainerStatus(name=name, state=ContainerState(waiting=ContainerStateWaiting(reason=reason)))
    if last_code is not None:
        status.last_state = ContainerState(terminated=ContainerStateTerminated(exit_code=last_code))
    return status


def test_running_sidecar_keeps_a_finished_pod_running() -> None:
    pod = make_pod(initContainers=[SIDECAR], restartPolicy="Never")
    assert pod_phase(pod, [running("proxy")], [terminated("app")], terminal=False) == "Running"
    # Once the sidecar is stopped it does not count: the app's exit decides.
    assert pod_phase(pod, [terminated("proxy", 137)], [terminated("app")], terminal=False) == "Succeeded"


def test_sidecar_that_never_ran_keeps_the_pod_pending() -> None:
    pod = make_pod(initContainers=[SIDECAR])
    assert pod_phase(
        pod, [waiting("proxy", "PodInitializing")], [waiting("app", "PodInitializing")], False
    ) == ("Pending")
    # A restarting sidecar does not send an initialized pod back to Pending.
    statuses = [waiting("proxy", "CrashLoopBackOff", last_code=1)], [running("app")]
    assert pod_phase(pod, *statuses, terminal=False) == "Running"


def test_crash_looping_app_with_incomplete_init_is_pending() -> None:
    # HasAnyRegularContainerStarted looks at running or terminated only, not at lastState.
    pod = make_pod(initContainers=[SIDECAR])
    not_started = running("proxy", started=False, ready=False)
    assert (
        pod_phase(pod, [not_started], [waiting("app", "CrashLoopBackOff", last_code=1)], False) == "Pending"
    )


def test_terminal_flag_decides_succeeded_or_failed() -> None:
    pod = make_pod()
    assert pod_phase(pod, [], [terminated("app", 0)], terminal=True) == "Succeeded"
    assert pod_phase(pod, [], [terminated("app", 143)], terminal=True) == "Failed"
    assert pod_phase(pod, [], [terminated("app", 143)], terminal=False) == "Running"  # Always: restarting


def cond_map(
    pod_body: dict[str, Any], init: list[ContainerStatus], app: list[ContainerStatus], phase: str
) -> dict:
    pod = make_pod(**pod_body)
    return {c.type: c for c in conditions(pod, init, app, phase, sandbox_ready=True)}


def test_initialized_follows_init_containers_until_an_app_container_ran() -> None:
    body = {"initContainers": [{"name": "a", "image": "x"}, SIDECAR]}
    ready_a = terminated("a")
    ready_a.ready = True
    c = cond_map(body, [ready_a, running("proxy", started=False, ready=False)], [waiting("app")], "Pending")
    assert (c["Initialized"].status, c["Initialized"].message) == (
        "False",
        "containers with incomplete status: [proxy]",
    )
    c = cond_map(body, [ready_a, waiting("proxy", "CrashLoopBackOff", 1)], [running("app")], "Running")
    assert c["Initialized"].status == "True"


def test_containers_ready_counts_sidecars_and_names_the_unready() -> None:
    c = cond_map({"initContainers": [SIDECAR]}, [running("proxy", ready=False)], [running("app")], "Running")
    assert c["ContainersReady"].message == "containers with unready status: [proxy]"
    assert (c["Ready"].status, c["Ready"].reason) == ("False", "ContainersNotReady")


def test_readiness_gates_are_read_from_conditions_the_kubelet_keeps() -> None:
    pod = make_pod(readinessGates=[{"conditionType": "example.com/lb"}, {"conditionType": "example.com/dns"}])
    pod.status.conditions = [PodCondition(type="example.com/lb", status="False")]
    result = conditions(pod, [], [running("app")], "Running", sandbox_ready=True)
    assert [c.type for c in result] == [
        "example.com/lb",  # not the kubelet's: kept, first
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ]
    ready = result[3]
    assert ready.reason == "ReadinessGatesNotReady"
    assert ready.message == (
        'the status of pod readiness gate "example.com/lb" is not "True", but False, '
        'corresponding condition of pod readiness gate "example.com/dns" does not exist.'
    )
    pod.status.conditions = [
        PodCondition(type="example.com/lb", status="True"),
        PodCondition(type="example.com/dns", status="True"),
    ]
    assert conditions(pod, [], [running("app")], "Running", sandbox_ready=True)[4].status == "True"


def test_transition_time_moves_only_with_the_status() -> None:
    old = [PodCondition(type="Ready", status="True", last_transition_time=T0)]
    later = T0 + timedelta(seconds=5)
    same = [PodCondition(type="Ready", status="True")]
    carry_transition_times(same, old, later)
    assert same[0].last_transition_time == T0
    flipped = [PodCondition(type="Ready", status="False")]
    carry_transition_times(flipped, old, later)
    assert flipped[0].last_transition_time == later


def exited_view(code: int, waiting_reason: str | None = None, **pod_spec: Any) -> tuple[ContainerView, Any]:
    pod = make_pod(**pod_spec)
    latest = cri.ContainerStatus(
        id="c1",
        name="app",
        attempt=0,
        state=cri.ContainerState.EXITED,
        created_at=T0,
        exit_code=code,
        reason="Error" if code else "Completed",
    )
    view = ContainerView(pod.spec.containers[0], latest=latest)
    view.waiting = (waiting_reason, "why") if waiting_reason else None
    return view, pod


def test_reason_cache_shows_only_for_a_container_that_will_restart() -> None:
    view, pod = exited_view(2, "CrashLoopBackOff")
    st = container_status(view, pod, "ContainerCreating", started=False, ready=False)
    assert st.state.waiting is not None and st.state.waiting.reason == "CrashLoopBackOff"
    assert st.last_state.terminated is not None and st.last_state.terminated.exit_code == 2
    pod.metadata.deletion_timestamp = T0  # a deleted pod restarts nothing
    st = container_status(view, pod, "ContainerCreating", started=False, ready=False)
    assert st.state.terminated is not None and st.state.terminated.exit_code == 2
    view, pod = exited_view(0, "CrashLoopBackOff", restartPolicy="OnFailure")
    st = container_status(view, pod, "ContainerCreating", started=False, ready=False)
    assert st.state.terminated is not None


def test_terminate_pod_status_leaves_nothing_running_or_waiting() -> None:
    pod = make_pod()
    status = PodStatus(phase="Running", container_statuses=[waiting("app", "CrashLoopBackOff", 1)])
    final = terminate_pod_status(pod, status)
    term = final.container_statuses[0].state.terminated  # type: ignore[index]
    assert term is not None and (term.reason, term.exit_code) == ("ContainerStatusUnknown", 137)
    assert final.phase == "Failed"
    assert status.phase == "Running"  # the input is not changed


def test_terminate_pod_status_before_initialization() -> None:
    pod = make_pod(initContainers=[{"name": "a", "image": "x"}, {"name": "b", "image": "x"}])
    status = PodStatus(
        phase="Pending",
        init_container_statuses=[running("a"), waiting("b", "PodInitializing")],
        container_statuses=[waiting("app", "PodInitializing")],
    )
    final = terminate_pod_status(pod, status)
    inits = final.init_container_statuses or []
    # The one that ran is marked failed; the trailing ones that never started keep waiting, and so
    # do app containers of a pod that never initialized.
    assert (
        inits[0].state.terminated is not None and inits[0].state.terminated.reason == "ContainerStatusUnknown"
    )
    assert inits[1].state.waiting is not None
    assert final.container_statuses[0].state.waiting is not None  # type: ignore[index]
    assert final.phase == "Failed"


def test_terminate_pod_status_keeps_a_terminal_phase() -> None:
    pod = make_pod()
    status = PodStatus(phase="Succeeded", container_statuses=[terminated("app")])
    assert terminate_pod_status(pod, status) == status
