"""computePodActions / computeInitContainerActions as pure functions of the container views."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import count
from typing import Any

from hitless.api.types.pod import Pod
from hitless.kubelet.actions import PodActions, compute_pod_actions
from hitless.kubelet.containers import kill_grace
from hitless.kubelet.pod_worker import effective_grace_period
from hitless.kubelet.views import ContainerView
from hitless.runtime import cri

from .conftest import FakeProbes, make_pod

_ids = count(1)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def instance(state: str, exit_code: int | None = None, attempt: int = 0) -> cri.ContainerStatus:
    kind = {"running": cri.ContainerState.RUNNING, "exited": cri.ContainerState.EXITED}[state]
    return cri.ContainerStatus(
        id=f"c{next(_ids)}", name="x", attempt=attempt, state=kind, created_at=T0, exit_code=exit_code
    )


def setup(
    pod: Pod, init: dict[str, cri.ContainerStatus], app: dict[str, cri.ContainerStatus]
) -> tuple[list[ContainerView], list[ContainerView]]:
    init_views = [
        ContainerView(c, init=True, latest=init.get(c.name)) for c in pod.spec.init_containers or []
    ]
    app_views = [ContainerView(c, latest=app.get(c.name)) for c in pod.spec.containers]
    return init_views, app_views


def names(views: list[ContainerView]) -> list[str]:
    return [v.name for v in views]


def pod_with(init: list[dict[str, Any]], **spec: Any) -> Pod:
    return make_pod(initContainers=init, **spec)


REGULAR = [{"name": "a", "image": "x"}, {"name": "b", "image": "x"}]
SIDECARS = [
    {"name": "s1", "image": "x", "restartPolicy": "Always"},
    {"name": "s2", "image": "x", "restartPolicy": "Always"},
]


def actions(
    pod: Pod, init: dict[str, Any], app: dict[str, Any], probes: FakeProbes | None = None
) -> PodActions:
    init_views, app_views = setup(pod, init, app)
    return compute_pod_actions(pod, init_views, app_views, probes or FakeProbes())


def test_init_containers_start_one_after_the_other() -> None:
    pod = pod_with(REGULAR)
    first = actions(pod, {}, {})
    assert names(first.init_to_start) == ["a"] and not first.to_start
    assert names(actions(pod, {"a": instance("running")}, {}).init_to_start) == []
    assert names(actions(pod, {"a": instance("exited", 0)}, {}).init_to_start) == ["b"]
    done = actions(pod, {"a": instance("exited", 0), "b": instance("exited", 0)}, {})
    assert not done.init_to_start and names(done.to_start) == ["app"]


def test_failed_init_container_is_retried_or_fails_the_pod() -> None:
    failed = {"a": instance("exited", 1)}
    assert names(actions(pod_with(REGULAR), failed, {}).init_to_start) == ["a"]
    never = actions(pod_with(REGULAR, restartPolicy="Never"), failed, {})
    assert never.kill_pod and not never.init_to_start and not never.to_start


def test_sidecars_start_in_order_once_started() -> None:
    pod = pod_with(SIDECARS)
    assert names(actions(pod, {}, {}).init_to_start) == ["s1"]
    probes = FakeProbes()
    probes.not_started.add("s1")
    # Its startup probe has not succeeded: the next init container waits.
    assert names(actions(pod, {"s1": instance("running")}, {}, probes).init_to_start) == []
    assert names(actions(pod, {"s1": instance("running")}, {}).init_to_start) == ["s2"]
    both = actions(pod, {"s1": instance("running"), "s2": instance("running")}, {})
    assert names(both.to_start) == ["app"]


def test_sidecar_that_exits_is_restarted_whatever_the_policy() -> None:
    pod = pod_with(SIDECARS, restartPolicy="Never")
    result = actions(
        pod, {"s1": instance("exited", 0), "s2": instance("running")}, {"app": instance("running")}
    )
    assert names(result.init_to_start) == ["s1"]
    assert not result.kill_pod and not result.to_start


def test_crashed_sidecar_holds_back_app_restart_until_it_runs_again() -> None:
    # Nothing of the pod runs: the kubelet cannot tell it was initialized, so the sidecar
    # (the last init container) must be running and started before the app container restarts.
    pod = pod_with(SIDECARS[:1])
    result = actions(pod, {"s1": instance("exited", 1)}, {"app": instance("exited", 1)})
    assert names(result.init_to_start) == ["s1"] and not result.to_start


def test_liveness_failure_kills_and_restarts() -> None:
    probes = FakeProbes()
    probes.failed["app"] = "LivenessProbe"
    result = actions(make_pod(), {}, {"app": instance("running")}, probes)
    [kill] = result.kill
    assert kill.message == "Container app failed liveness probe, will be restarted"
    assert kill.reason == "LivenessProbe"
    assert names(result.to_start) == ["app"]


def test_liveness_failure_with_on_failure_restarts_too() -> None:
    probes = FakeProbes()
    probes.failed["app"] = "StartupProbe"
    result = actions(make_pod(restartPolicy="OnFailure"), {}, {"app": instance("running")}, probes)
    assert [k.message for k in result.kill] == ["Container app failed startup probe, will be restarted"]


def test_liveness_failure_of_the_last_container_with_never_kills_the_pod() -> None:
    probes = FakeProbes()
    probes.failed["app"] = "LivenessProbe"
    pod = pod_with(SIDECARS[:1], restartPolicy="Never")
    result = actions(pod, {"s1": instance("running")}, {"app": instance("running")}, probes)
    # Nothing to keep, nothing to start: the whole pod goes (its own kill list is not used).
    assert result.kill_pod and not result.init_to_start


def test_sidecar_liveness_failure_restarts_it() -> None:
    probes = FakeProbes()
    probes.failed["s1"] = "LivenessProbe"
    pod = pod_with(SIDECARS[:1], restartPolicy="Never")
    result = actions(pod, {"s1": instance("running")}, {"app": instance("running")}, probes)
    assert [k.message for k in result.kill] == ["Init container s1 failed liveness probe"]
    assert names(result.init_to_start) == ["s1"]


def test_containers_of_a_deleted_pod_are_not_restarted() -> None:
    pod = make_pod()
    pod.metadata.deletion_timestamp = T0
    result = actions(pod, {}, {"app": instance("exited", 1)})
    assert result.kill_pod and not result.to_start


def test_kill_grace_for_each_reason() -> None:
    probe = {"tcpSocket": {"port": 80}, "terminationGracePeriodSeconds": 90}
    pod = make_pod(
        containers=[{"name": "app", "image": "x", "livenessProbe": probe}], terminationGracePeriodSeconds=5
    )
    container = pod.spec.containers[0]
    # The probe's own grace period may exceed the pod's; it applies to its own kills only.
    assert kill_grace(pod, container, "LivenessProbe") == 90
    assert kill_grace(pod, container, "StartupProbe") == 5
    assert kill_grace(pod, container, "") == 5
    pod.metadata.deletion_grace_period_seconds = 3  # once deleted, the deletion's grace wins
    assert kill_grace(pod, container, "LivenessProbe") == 3
    pod.metadata.deletion_grace_period_seconds = None
    pod.spec.termination_grace_period_seconds = None
    assert kill_grace(pod, container, "LivenessProbe") == 2


def test_effective_grace_period() -> None:
    pod = make_pod(terminationGracePeriodSeconds=30)
    assert effective_grace_period(None, pod) == 30
    pod.metadata.deletion_grace_period_seconds = 0  # force delete: still 1 s
    assert effective_grace_period(None, pod) == 1
    pod.metadata.deletion_grace_period_seconds = 10
    assert effective_grace_period(20, pod) == 10
    assert effective_grace_period(5, pod) == 5  # only ever shorter
    assert effective_grace_period(5, pod, override=2) == 2
