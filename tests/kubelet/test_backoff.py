"""Restarts on a fake clock: crash-loop and image-pull back-off, and what the status shows meanwhile."""

from __future__ import annotations

from hitless.runtime import cri
from hitless.runtime.fake import FakeProgram
from hitless.store.store import WatchEvent

from .conftest import Env, make_pod


async def test_crash_loop_backoff_doubles_to_300s(env: Env, programs: dict) -> None:
    programs["app"] = lambda c: FakeProgram(exit_after=1, exit_code=1)
    env.store.create(make_pod())
    await env.clock.advance(1200)
    s, x = env.starts(), env.exits()
    gaps = [s[i + 1] - x[i] for i in range(len(s) - 1)]
    # The first restart is immediate, then 10 s doubling to the 300 s cap (retries land exactly
    # on the expiry here because the retry jitter is 0).
    assert gaps[:8] == [0, 10, 20, 40, 80, 160, 300, 300]
    assert env.status().restart_count == len(s) - 1
    assert (
        "BackOff",
        f"Back-off restarting failed container app in pod web_default({env.pod().metadata.uid})",
    ) in (env.events("BackOff"))


async def test_crashed_container_reads_error_before_crash_loop_back_off(env: Env, programs: dict) -> None:
    programs["app"] = lambda c: FakeProgram(exit_after=1, exit_code=2)
    env.store.create(make_pod())
    await env.clock.advance(25)
    # SyncPod publishes the status it found before acting: a crash first shows as terminated
    # (kubectl: Error), the refused restart as CrashLoopBackOff at the next sync, 10 s later.
    assert env.states()[:7] == [
        "waiting:ContainerCreating",
        "running",
        "terminated:Error",
        "running",
        "terminated:Error",
        "waiting:CrashLoopBackOff",
        "running",
    ]
    # Third exit at t=13, back-off 20 s: refused at t=13 and t=23, so waiting now.
    st = env.status()
    assert st.state.waiting is not None and st.state.waiting.reason == "CrashLoopBackOff"
    uid = env.pod().metadata.uid
    assert st.state.waiting.message == f"back-off 20s restarting failed container=app pod=web_default({uid})"
    assert st.last_state.terminated is not None and st.last_state.terminated.exit_code == 2
    assert st.last_state.terminated.reason == "Error"
    assert st.restart_count == 2
    assert env.pod().status.phase == "Running"  # CrashLoopBackOff with restartPolicy Always


async def test_backoff_resets_after_ten_minutes_of_running(env: Env, programs: dict) -> None:
    # Attempts 0-2 crash after 1 s, attempt 3 runs 700 s, the rest crash after 1 s.
    programs["app"] = lambda c: FakeProgram(exit_after=700 if c.attempt == 3 else 1, exit_code=1)
    env.store.create(make_pod())
    await env.clock.advance(800)
    s, x = env.starts(), env.exits()
    assert s[:4] == [0, 1, 12, 33]
    assert x[3] == 733
    # More than 600 s since the last restart decision: restart at once, back-off back to 10 s.
    assert s[4] == 733
    assert s[5] == 744


async def test_start_error_is_run_container_error_then_backoff(env: Env, programs: dict) -> None:
    programs["app"] = lambda c: FakeProgram(start_error='exec: "nope": executable file not found in $PATH')
    env.store.create(make_pod())
    await env.clock.advance(10.5)
    # The failed start is a new (dead) container, which brings the next sync at once: the first
    # restart is immediate, the second is refused, and the sync after that shows it.
    assert env.states()[:3] == [
        "waiting:ContainerCreating",
        "waiting:RunContainerError",
        "waiting:CrashLoopBackOff",
    ]
    st = env.status()
    assert st.restart_count == 2  # started again at t=10, failing again
    assert st.last_state.terminated is not None and st.last_state.terminated.exit_code == 128
    assert st.last_state.terminated.reason == "StartError"
    assert ("Failed", 'Error: exec: "nope": executable file not found in $PATH') in env.events("Failed")


async def test_start_error_with_restart_policy_never_stays_terminated(env: Env, programs: dict) -> None:
    programs["app"] = lambda c: FakeProgram(start_error="boom")
    env.store.create(make_pod(restartPolicy="Never"))
    await env.clock.advance(30)
    # Nothing will start it again, so the reason cache does not apply: the runtime's state shows.
    assert env.states() == ["waiting:ContainerCreating", "terminated:StartError"]
    assert env.pod().status.phase == "Failed"
    assert env.store.get("Pod", "default", "web") is not None  # finished, not deleted


async def test_unmapped_image_pulls_with_backoff(env: Env) -> None:
    pulls: list[float] = []

    def listen(ev: WatchEvent) -> None:
        data = ev.object.to_json()
        if data.get("kind") == "Event" and data["reason"] == "Pulling":
            pulls.append(env.clock.now())

    env.store.add_listener(listen)
    env.store.create(make_pod(containers=[{"name": "app", "image": "nginx"}]))
    await env.clock.advance(160)
    # A failed pull is retried by the 10 s sync retry once the image back-off (10 s doubling,
    # counted from the last failed pull) has passed.
    assert pulls == [0, 10, 30, 70, 150]
    assert env.states()[:3] == [
        "waiting:ContainerCreating",
        "waiting:ErrImagePull",
        "waiting:ImagePullBackOff",
    ]
    st = env.status()
    assert st.state.waiting is not None and st.state.waiting.reason == "ErrImagePull"
    assert "--image nginx=" in (st.state.waiting.message or "")
    await env.clock.advance(10)
    st = env.status()
    assert st.state.waiting is not None and st.state.waiting.reason == "ImagePullBackOff"
    assert st.state.waiting.message == 'Back-off pulling image "nginx"'
    reasons = [r for r, _ in env.events()]
    assert {"Pulling", "Failed", "BackOff"} <= set(reasons)
    assert ("Failed", "Error: ErrImagePull") in env.events("Failed")
    assert ("Failed", "Error: ImagePullBackOff") in env.events("Failed")


async def test_unmapped_image_with_pull_policy_never(env: Env) -> None:
    env.store.create(make_pod(containers=[{"name": "app", "image": "nginx", "imagePullPolicy": "Never"}]))
    await env.clock.advance(11)
    st = env.status()
    assert st.state.waiting is not None and st.state.waiting.reason == "ErrImageNeverPull"
    assert st.state.waiting.message == 'Container image "nginx" is not present with pull policy of Never'
    assert env.events("Pulling") == []


async def test_post_start_failure_kills_with_prestop_then_backs_off(env: Env, programs: dict) -> None:
    async def exec_handler(config: cri.ContainerConfig, argv: list[str]) -> cri.ExecResult:
        return (
            cri.ExecResult(exit_code=1, output=b"boom") if argv == ["fail"] else cri.ExecResult(exit_code=0)
        )

    env.runtime._exec = exec_handler
    programs["app"] = lambda c: FakeProgram(on_stop_signal=0)
    lifecycle = {"postStart": {"exec": {"command": ["fail"]}}, "preStop": {"exec": {"command": ["stop"]}}}
    env.store.create(
        make_pod(containers=[{"name": "app", "image": "x", "command": ["app"], "lifecycle": lifecycle}])
    )
    await env.clock.advance(10.5)
    assert ("FailedPostStartHook", "PostStartHook failed") in env.events("FailedPostStartHook")
    assert ("Killing", "FailedPostStartHook") in env.events("Killing")
    execs = [e.detail for e in env.runtime.events("app", "exec")]
    assert execs[:4] == [["fail"], ["stop"], ["fail"], ["stop"]]
    assert env.states()[:3] == [
        "waiting:ContainerCreating",
        "waiting:PostStartHookError",
        "waiting:CrashLoopBackOff",
    ]
    hook_error = next(
        st.state.waiting.message
        for _, _, pod in env.history
        for st in pod.status.container_statuses or []
        if st.state.waiting is not None and st.state.waiting.reason == "PostStartHookError"
    )
    uid = env.pod().metadata.uid
    assert hook_error == (
        f'Exec lifecycle hook ([fail]) for Container "app" in Pod "web_default({uid})" failed - error: '
        "command 'fail' exited with 1: boom, message: \"boom\""
    )
