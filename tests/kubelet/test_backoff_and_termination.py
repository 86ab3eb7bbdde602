"""Kubelet logic on a fake clock: crash back-off, preStop and grace-period arithmetic."""

from __future__ import annotations

from hitless.runtime import cri
from hitless.runtime.fake import FakeProgram

from .conftest import Env, make_pod


def starts(env: Env, name: str = "app") -> list[float]:
    return [e.time for e in env.runtime.events(name, "start")]


def exits(env: Env, name: str = "app") -> list[float]:
    return [e.time for e in env.runtime.events(name, "exit")]


def waiting_reasons(env: Env) -> list[str]:
    """Every waiting reason the first container showed, in order, without repeats."""
    seen: list[str] = []

    def listen(ev: object) -> None:
        obj = getattr(ev, "object", None)
        if obj is None or obj.kind != "Pod" or not obj.status.container_statuses:
            return
        waiting = obj.status.container_statuses[0].state.waiting
        if waiting is not None and waiting.reason and (not seen or seen[-1] != waiting.reason):
            seen.append(waiting.reason)

    env.store.add_listener(listen)
    return seen


async def test_crash_loop_backoff_doubles_to_300s(env: Env, programs: dict) -> None:
    programs["app"] = lambda c: FakeProgram(exit_after=1, exit_code=1)
    env.store.create(make_pod())
    await env.clock.advance(1200)
    s, x = starts(env), exits(env)
    gaps = [s[i + 1] - x[i] for i in range(len(s) - 1)]
    # The first restart is immediate, then 10 s doubling to the 300 s cap.
    assert gaps[:8] == [0, 10, 20, 40, 80, 160, 300, 300]
    status = env.pod().status.container_statuses[0]  # type: ignore[index]
    assert status.restart_count == len(s) - 1
    reasons = [r for r, _ in env.events()]
    assert "BackOff" in reasons


async def test_crash_loop_waiting_state_message(env: Env, programs: dict) -> None:
    programs["app"] = lambda c: FakeProgram(exit_after=1, exit_code=2)
    env.store.create(make_pod())
    await env.clock.advance(2.5)  # second exit at t=2: in back-off now
    st = env.pod().status.container_statuses[0]  # type: ignore[index]
    assert st.state.waiting is not None and st.state.waiting.reason == "CrashLoopBackOff"
    uid = env.pod().metadata.uid
    assert st.state.waiting.message == f"back-off 10s restarting failed container=app pod=web_default({uid})"
    assert st.last_state.terminated is not None and st.last_state.terminated.exit_code == 2
    assert st.last_state.terminated.reason == "Error"
    assert env.pod().status.phase == "Running"  # CrashLoopBackOff with restartPolicy Always


async def test_backoff_resets_after_ten_minutes_of_running(env: Env, programs: dict) -> None:
    # Attempts 0-2 crash after 1 s, attempt 3 runs 700 s, the rest crash after 1 s.
    programs["app"] = lambda c: FakeProgram(exit_after=700 if c.attempt == 3 else 1, exit_code=1)
    env.store.create(make_pod())
    await env.clock.advance(800)
    s, x = starts(env), exits(env)
    assert s[:4] == [0, 1, 12, 33]
    assert x[3] == 733
    # More than 600 s since the last restart decision: restart at once, back-off back to 10 s.
    assert s[4] == 733
    assert s[5] == 744


async def test_prestop_sleep_within_grace(env: Env, programs: dict) -> None:
    programs["app"] = lambda c: FakeProgram(on_stop_signal=None)  # a PID 1 that ignores SIGTERM
    pod = make_pod(
        containers=[
            {
                "name": "app",
                "image": "x",
                "command": ["app"],
                "lifecycle": {"preStop": {"sleep": {"seconds": 3}}},
            }
        ],
        terminationGracePeriodSeconds=5,
    )
    env.store.create(pod)
    await env.clock.advance(10)
    env.store.delete("Pod", "default", "web")
    await env.clock.advance(20)
    signals = [(e.time, e.detail) for e in env.runtime.events("app", "signal")]
    assert signals == [(13, "SIGTERM"), (15, "SIGKILL")]
    assert env.store.get("Pod", "default", "web") is None  # removed once terminated


async def test_prestop_sleep_beyond_grace_gets_two_seconds(env: Env, programs: dict) -> None:
    programs["app"] = lambda c: FakeProgram(on_stop_signal=None)
    pod = make_pod(
        containers=[
            {
                "name": "app",
                "image": "x",
                "command": ["app"],
                "lifecycle": {"preStop": {"sleep": {"seconds": 10}}},
            }
        ],
        terminationGracePeriodSeconds=5,
    )
    env.store.create(pod)
    await env.clock.advance(10)
    env.store.delete("Pod", "default", "web")
    await env.clock.advance(30)
    signals = [(e.time, e.detail) for e in env.runtime.events("app", "signal")]
    # The hook is abandoned at the grace period, then SIGTERM with the 2-second floor.
    assert signals == [(15, "SIGTERM"), (17, "SIGKILL")]


async def test_graceful_exit_on_sigterm_and_final_status(env: Env, programs: dict) -> None:
    programs["app"] = lambda c: FakeProgram(on_stop_signal=0.5, term_exit_code=0)
    env.store.create(make_pod())
    await env.clock.advance(5)
    pod = env.pod()
    assert pod.status.phase == "Running"
    assert pod.is_ready()
    seen: list[dict] = []
    env.store.add_listener(lambda ev: seen.append(ev.object.to_json()) if ev.object.kind == "Pod" else None)
    env.store.delete("Pod", "default", "web")
    await env.clock.advance(5)
    last = seen[-1]
    assert last["status"]["phase"] == "Succeeded"
    term = last["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 0 and term["reason"] == "Completed"
    assert last["metadata"]["deletionTimestamp"]
    killing = env.events("Killing")
    assert killing == [("Killing", "Stopping container app")]


async def test_shorter_grace_on_second_delete_wins(env: Env, programs: dict) -> None:
    programs["app"] = lambda c: FakeProgram(on_stop_signal=None)
    env.store.create(make_pod(terminationGracePeriodSeconds=60))
    await env.clock.advance(1)
    env.store.delete("Pod", "default", "web")
    await env.clock.advance(5)
    env.store.delete("Pod", "default", "web", grace_period_seconds=3)
    await env.clock.advance(10)
    signals = [(e.time, e.detail) for e in env.runtime.events("app", "signal")]
    assert signals[0] == (1, "SIGTERM")
    assert signals[-1] == (9, "SIGKILL")  # re-killed at 6 with 3 s


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
    assert len(starts(env, "app")) == 1 and len(starts(env, "bad")) == 1
    ready = failed.status.condition("Ready")
    assert ready is not None and ready.reason == "PodFailed"


async def test_init_containers_run_in_order_before_app(env: Env, programs: dict) -> None:
    programs["init-a"] = lambda c: FakeProgram(exit_after=2)
    programs["init-b"] = lambda c: FakeProgram(exit_after=3)
    pod = make_pod(
        initContainers=[
            {"name": "init-a", "image": "x", "command": ["a"]},
            {"name": "init-b", "image": "x", "command": ["b"]},
        ]
    )
    env.store.create(pod)
    await env.clock.advance(1)
    p = env.pod()
    assert p.status.phase == "Pending"
    init = p.status.condition("Initialized")
    assert init is not None and init.status == "False"
    assert init.message == "containers with incomplete status: [init-a init-b]"
    app = p.status.container_statuses[0]  # type: ignore[index]
    assert app.state.waiting is not None and app.state.waiting.reason == "PodInitializing"
    await env.clock.advance(10)
    assert starts(env, "init-a") == [0]
    assert starts(env, "init-b") == [2]
    assert starts(env, "app") == [5]
    p = env.pod()
    assert p.status.phase == "Running"
    assert all(s.ready for s in p.status.init_container_statuses or [])


async def test_start_error_is_run_container_error_then_backoff(env: Env, programs: dict) -> None:
    programs["app"] = lambda c: FakeProgram(start_error='exec: "nope": executable file not found in $PATH')
    reasons = waiting_reasons(env)
    env.store.create(make_pod())
    await env.clock.advance(0.5)
    # First failure, immediate retry (the first restart never waits), then back-off.
    assert reasons == ["ContainerCreating", "RunContainerError", "CrashLoopBackOff"]
    st = env.pod().status.container_statuses[0]  # type: ignore[index]
    assert st.last_state.terminated is not None and st.last_state.terminated.exit_code == 128
    assert st.last_state.terminated.reason == "StartError"
    assert ("Failed", 'Error: exec: "nope": executable file not found in $PATH') in env.events("Failed")


async def test_unmapped_image_without_command_is_err_image_pull(env: Env) -> None:
    env.store.create(make_pod(containers=[{"name": "app", "image": "nginx"}]))
    await env.clock.advance(0.5)
    st = env.pod().status.container_statuses[0]  # type: ignore[index]
    assert st.state.waiting is not None and st.state.waiting.reason == "ErrImagePull"
    assert "--image nginx=" in (st.state.waiting.message or "")
    await env.clock.advance(9)
    assert env.pod().status.container_statuses[0].state.waiting.reason == "ErrImagePull"  # type: ignore[index, union-attr]
    await env.clock.advance(3)
    st = env.pod().status.container_statuses[0]  # type: ignore[index]
    assert st.state.waiting is not None and st.state.waiting.reason == "ImagePullBackOff"
    assert st.state.waiting.message == 'Back-off pulling image "nginx"'


async def test_post_start_failure_kills_with_prestop(env: Env, programs: dict) -> None:
    async def exec_handler(config: cri.ContainerConfig, argv: list[str]) -> cri.ExecResult:
        if argv == ["fail"]:
            return cri.ExecResult(exit_code=1, output=b"boom")
        return cri.ExecResult(exit_code=0)

    env.runtime._exec = exec_handler
    programs["app"] = lambda c: FakeProgram(on_stop_signal=0)
    reasons = waiting_reasons(env)
    pod = make_pod(
        containers=[
            {
                "name": "app",
                "image": "x",
                "command": ["app"],
                "lifecycle": {
                    "postStart": {"exec": {"command": ["fail"]}},
                    "preStop": {"exec": {"command": ["stop"]}},
                },
            }
        ]
    )
    env.store.create(pod)
    await env.clock.advance(0.5)
    assert ("FailedPostStartHook", "PostStartHook failed") in env.events("FailedPostStartHook")
    execs = [e.detail for e in env.runtime.events("app", "exec")]
    assert execs[:2] == [["fail"], ["stop"]]
    assert reasons == [
        "ContainerCreating",
        "PostStartHookError",
        "ContainerCreating",
        "PostStartHookError",
        "CrashLoopBackOff",
    ]
    messages = [
        c.state.waiting.message
        for c in [env.pod().status.container_statuses[0]]  # type: ignore[index]
        if c.state.waiting
    ]
    assert messages and "back-off 10s" in (messages[0] or "")
