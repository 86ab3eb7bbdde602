"""Pod termination on a fake clock: preStop and grace arithmetic, shorter and forced deletes,
deletion during postStart and initialization, sidecar order, the final status."""

from __future__ import annotations

from hitless.runtime import cri
from hitless.runtime.fake import FakeProgram

from .conftest import Env, make_pod, state_of


def with_pre_stop(pre_stop: dict, grace: int) -> dict:
    containers = [{"name": "app", "image": "x", "command": ["app"], "lifecycle": {"preStop": pre_stop}}]
    return {"containers": containers, "terminationGracePeriodSeconds": grace}


def sleeping_exec(env: Env, seconds: dict[str, float]) -> None:
    """exec hooks that take ``seconds[argv[0]]`` of fake time."""

    async def handler(config: cri.ContainerConfig, argv: list[str]) -> cri.ExecResult:
        await env.clock.sleep(seconds.get(argv[0], 0))
        return cri.ExecResult(exit_code=0)

    env.runtime._exec = handler


async def test_prestop_sleep_within_grace(env: Env, programs: dict) -> None:
    programs["app"] = lambda c: FakeProgram(on_stop_signal=None)  # a PID 1 that ignores SIGTERM
    env.store.create(make_pod(**with_pre_stop({"sleep": {"seconds": 3}}, grace=5)))
    await env.clock.advance(10)
    env.store.delete("Pod", "default", "web")
    await env.clock.advance(20)
    assert env.signals() == [(13, "SIGTERM"), (15, "SIGKILL")]
    assert env.store.get("Pod", "default", "web") is None  # removed once terminated


async def test_prestop_beyond_grace_is_abandoned_then_two_seconds(env: Env, programs: dict) -> None:
    programs["app"] = lambda c: FakeProgram(on_stop_signal=None)
    env.store.create(make_pod(**with_pre_stop({"sleep": {"seconds": 10}}, grace=5)))
    await env.clock.advance(10)
    env.store.delete("Pod", "default", "web")
    await env.clock.advance(30)
    assert env.signals() == [(15, "SIGTERM"), (17, "SIGKILL")]


async def test_prestop_time_is_truncated_and_the_rest_floored_at_two_seconds(
    env: Env, programs: dict
) -> None:
    programs["app"] = lambda c: FakeProgram(on_stop_signal=None)
    sleeping_exec(env, {"drain": 28.6})
    env.store.create(make_pod(**with_pre_stop({"exec": {"command": ["drain"]}}, grace=30)))
    await env.clock.advance(1)
    env.store.delete("Pod", "default", "web")
    await env.clock.advance(40)
    # 28.6 s count as 28: 2 s are left, SIGKILL comes 30.6 s after the delete.
    [(term_at, _), (kill_at, kill)] = env.signals()
    assert (term_at, kill) == (29.6, "SIGKILL")
    assert kill_at == 31.6


async def test_graceful_exit_and_final_status(env: Env, programs: dict) -> None:
    programs["app"] = lambda c: FakeProgram(on_stop_signal=0.5, term_exit_code=0)
    env.store.create(make_pod())
    await env.clock.advance(5)
    assert env.pod().status.phase == "Running" and env.pod().is_ready()
    start = len(env.history)
    env.store.delete("Pod", "default", "web")
    await env.clock.advance(5)
    tail = env.history[start:]
    assert [kind for _, kind, _ in tail][-2:] == ["MODIFIED", "DELETED"]
    final = tail[-2][2]
    assert final.metadata.deletion_grace_period_seconds == 0  # the kubelet's delete, grace 0
    assert final.status.phase == "Succeeded"
    term = final.status.container_statuses[0].state.terminated  # type: ignore[index]
    assert term is not None and term.exit_code == 0 and term.reason == "Completed"
    ready = final.status.condition("Ready")
    assert ready is not None and ready.status == "False" and ready.reason == "PodCompleted"
    assert env.events("Killing") == [("Killing", "Stopping container app")]


async def test_shorter_grace_on_second_delete_wins(env: Env, programs: dict) -> None:
    programs["app"] = lambda c: FakeProgram(on_stop_signal=None)
    env.store.create(make_pod(terminationGracePeriodSeconds=60))
    await env.clock.advance(1)
    env.store.delete("Pod", "default", "web")
    await env.clock.advance(5)
    env.store.delete("Pod", "default", "web", grace_period_seconds=30)
    await env.clock.advance(5)
    # 30 s from the first delete is still ahead: the API keeps 30, the kubelet starts over with it.
    assert env.pod().metadata.deletion_grace_period_seconds == 30
    env.store.delete("Pod", "default", "web", grace_period_seconds=3)
    await env.clock.advance(10)
    # 3 s from the first delete is past: the API gives the minimum, 1 s; the container 2 s.
    # The runtime sends the stop signal once per container (containerd); later stops only
    # bring the SIGKILL closer.
    assert env.signals() == [(1, "SIGTERM"), (13, "SIGKILL")]
    assert env.events("Killing") == [("Killing", "Stopping container app")]  # one Event, count 3


async def test_shorter_grace_during_prestop_interrupts_the_hook(env: Env, programs: dict) -> None:
    programs["app"] = lambda c: FakeProgram(on_stop_signal=0)
    env.store.create(make_pod(**with_pre_stop({"sleep": {"seconds": 20}}, grace=30)))
    await env.clock.advance(1)
    env.store.delete("Pod", "default", "web")
    await env.clock.advance(2)
    env.store.delete("Pod", "default", "web", grace_period_seconds=5)
    await env.clock.advance(30)
    # The kubelet's context is cancelled: the running hook fails, termination starts over with
    # the new grace period and runs preStop again, abandoned after its 5 s.
    assert ("FailedPreStopHook", "PreStopHook failed") in env.events("FailedPreStopHook")
    assert env.signals() == [(8, "SIGTERM")]


async def test_force_delete_still_terminates_with_the_minimum(env: Env, programs: dict) -> None:
    programs["app"] = lambda c: FakeProgram(on_stop_signal=None)
    env.store.create(make_pod(**with_pre_stop({"sleep": {"seconds": 10}}, grace=30)))
    await env.clock.advance(1)
    env.store.delete("Pod", "default", "web", grace_period_seconds=0)
    assert env.store.get("Pod", "default", "web") is None  # gone from the API at once
    await env.clock.advance(10)
    # The last version said deletionGracePeriodSeconds 0: 1 s for the pod, preStop abandoned
    # after it, then the 2 s floor.
    assert env.signals() == [(2, "SIGTERM"), (4, "SIGKILL")]


async def test_kill_now_during_prestop_kills_at_once(env: Env, programs: dict) -> None:
    programs["app"] = lambda c: FakeProgram(on_stop_signal=None)
    env.store.create(make_pod(**with_pre_stop({"sleep": {"seconds": 20}}, grace=30)))
    await env.clock.advance(1)
    env.store.delete("Pod", "default", "web")
    await env.clock.advance(2)
    env.kubelet.kill_now()
    await env.clock.advance(1)
    assert env.signals() == [(3, "SIGKILL")]
    assert env.store.get("Pod", "default", "web") is None


async def test_delete_during_post_start_waits_for_the_hook(env: Env, programs: dict) -> None:
    programs["app"] = lambda c: FakeProgram(on_stop_signal=0)
    sleeping_exec(env, {"warm-up": 5})
    lifecycle = {"postStart": {"exec": {"command": ["warm-up"]}}}
    env.store.create(
        make_pod(containers=[{"name": "app", "image": "x", "command": ["app"], "lifecycle": lifecycle}])
    )
    await env.clock.advance(1)
    assert env.states() == ["waiting:ContainerCreating"]  # the status of the sync's start
    env.store.delete("Pod", "default", "web")
    await env.clock.advance(10)
    # SyncPod is not cancelled by the deletion: the hook runs to its end, then termination.
    assert env.signals() == [(5, "SIGTERM")]
    assert env.store.get("Pod", "default", "web") is None


async def test_delete_during_init_fails_the_pod(env: Env, programs: dict) -> None:
    programs["init"] = lambda c: FakeProgram(exit_after=100)
    env.store.create(make_pod(initContainers=[{"name": "init", "image": "x", "command": ["init"]}]))
    await env.clock.advance(2)
    env.store.delete("Pod", "default", "web")
    await env.clock.advance(5)
    final = [p for _, kind, p in env.history if kind == "MODIFIED"][-1]
    assert env.starts("app") == []
    assert [e.detail for e in env.runtime.events("init", "signal")] == ["SIGTERM"]
    init = final.status.init_container_statuses[0]  # type: ignore[index]
    assert state_of(init) == "terminated:Error" and init.state.terminated.exit_code == 143  # type: ignore[union-attr]
    # The app container never started and the pod never initialized: it keeps its waiting state.
    assert state_of(final.status.container_statuses[0]) == "waiting:PodInitializing"  # type: ignore[index]
    assert final.status.phase == "Failed"


async def test_deleted_crash_loop_ends_terminated_not_waiting(env: Env, programs: dict) -> None:
    programs["app"] = lambda c: FakeProgram(exit_after=1, exit_code=3)
    env.store.create(make_pod())
    await env.clock.advance(25)
    waiting = env.status().state.waiting
    assert waiting is not None and waiting.reason == "CrashLoopBackOff"
    env.store.delete("Pod", "default", "web")
    await env.clock.advance(1)
    final = [p for _, kind, p in env.history if kind == "MODIFIED"][-1]
    st = final.status.container_statuses[0]  # type: ignore[index]
    assert st.state.terminated is not None and st.state.terminated.exit_code == 3
    assert final.status.phase == "Failed"


async def test_deleted_pod_that_never_started_is_failed_with_unknown_status(env: Env) -> None:
    env.store.create(make_pod(containers=[{"name": "app", "image": "nginx"}]))
    await env.clock.advance(15)
    env.store.delete("Pod", "default", "web")
    await env.clock.advance(1)
    final = [p for _, kind, p in env.history if kind == "MODIFIED"][-1]
    term = final.status.container_statuses[0].state.terminated  # type: ignore[index]
    assert term is not None and (term.reason, term.exit_code) == ("ContainerStatusUnknown", 137)
    assert term.message == "The container could not be located when the pod was terminated"
    assert final.status.phase == "Failed"


async def test_sidecars_stop_after_app_containers_in_reverse_order(env: Env, programs: dict) -> None:
    programs["app"] = lambda c: FakeProgram(on_stop_signal=3)
    programs["proxy"] = lambda c: FakeProgram(on_stop_signal=1)
    programs["logs"] = lambda c: FakeProgram(on_stop_signal=0)
    sidecars = [
        {"name": "logs", "image": "x", "command": ["logs"], "restartPolicy": "Always"},
        {"name": "proxy", "image": "x", "command": ["proxy"], "restartPolicy": "Always"},
    ]
    env.store.create(make_pod(initContainers=sidecars))
    await env.clock.advance(1)
    assert env.starts("logs") == [0] and env.starts("proxy") == [0] and env.starts("app") == [0]
    assert env.pod().status.phase == "Running" and env.pod().is_ready()
    env.store.delete("Pod", "default", "web")
    await env.clock.advance(10)
    assert env.signals("app") == [(1, "SIGTERM")]
    assert env.signals("proxy") == [(4, "SIGTERM")]
    assert env.signals("logs") == [(5, "SIGTERM")]


async def test_pod_that_completes_stops_its_sidecars(env: Env, programs: dict) -> None:
    programs["app"] = lambda c: FakeProgram(exit_after=2, exit_code=0)
    sidecar = {"name": "proxy", "image": "x", "command": ["proxy"], "restartPolicy": "Always"}
    env.store.create(make_pod(initContainers=[sidecar], restartPolicy="Never"))
    await env.clock.advance(1)
    assert env.pod().status.phase == "Running"
    await env.clock.advance(10)
    # No app container is left and none restarts: the kubelet kills the pod, sidecars included;
    # a running sidecar kept the phase Running until then.
    assert env.signals("proxy") == [(2, "SIGTERM")]
    assert ("Killing", "Stopping container proxy") in env.events("Killing")
    pod = env.pod()
    assert pod.status.phase == "Succeeded"
    assert env.starts("proxy") == [0]  # not restarted
    for _, _, published in env.history:
        if published.status.phase == "Succeeded":
            proxy = published.status.init_container_statuses[0]  # type: ignore[index]
            assert proxy.state.terminated is not None


async def test_restart_policy_never_and_on_failure(env: Env, programs: dict) -> None:
    programs["app"] = lambda c: FakeProgram(exit_after=1, exit_code=0)
    programs["bad"] = lambda c: FakeProgram(exit_after=1, exit_code=3)
    env.store.create(make_pod("ok", restartPolicy="OnFailure"))
    env.store.create(
        make_pod(
            "fails", containers=[{"name": "bad", "image": "x", "command": ["bad"]}], restartPolicy="Never"
        )
    )
    await env.clock.advance(30)
    assert env.pod("ok").status.phase == "Succeeded"
    failed = env.pod("fails")
    assert failed.status.phase == "Failed"
    term = failed.status.container_statuses[0].state.terminated  # type: ignore[index]
    assert term is not None and term.exit_code == 3
    assert env.starts("app") == [0] and env.starts("bad") == [0]
    ready = failed.status.condition("Ready")
    assert ready is not None and ready.reason == "PodFailed"
    # Terminal pods stay in the API until someone deletes them; then they go at once.
    env.store.delete("Pod", "default", "fails")
    assert env.store.get("Pod", "default", "fails") is None


async def test_delete_during_a_liveness_kill(env: Env, programs: dict) -> None:
    programs["app"] = lambda c: FakeProgram(on_stop_signal=None)
    probes = env.use_probes()
    probe = {"tcpSocket": {"port": 80}, "terminationGracePeriodSeconds": 10}
    env.store.create(
        make_pod(containers=[{"name": "app", "image": "x", "command": ["app"], "livenessProbe": probe}])
    )
    await env.clock.advance(5)
    probes.failed["app"] = "LivenessProbe"
    env.kubelet.workers[env.pod().metadata.uid or ""].probe_changed()
    await env.clock.advance(2)
    env.store.delete("Pod", "default", "web")
    await env.clock.advance(60)
    # The kill runs to its end with the probe's grace period, and SyncPod goes on with what it
    # had decided (restart it) before termination begins: the kubelet runs it uncancelled.
    assert env.signals() == [(5, "SIGTERM"), (15, "SIGKILL"), (15, "SIGTERM"), (45, "SIGKILL")]
    assert env.starts() == [0, 15]
    assert env.events("Killing") == [
        ("Killing", "Container app failed liveness probe, will be restarted"),
        ("Killing", "Stopping container app"),
    ]
