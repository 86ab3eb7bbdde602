"""Containers: PID 1 of their own PID namespace, with Kubernetes' signal and exit semantics."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hitless.runtime.cri import ContainerState, PodSandboxConfig, StartError
from hitless.runtime.linux import ExecutableError, LinuxRuntime
from hitless.runtime.linux.procfs import descendants

from .helpers import ENV, PYTHON, alive, container, log_lines, pid_ns_members, run, wait_until


@pytest.fixture
async def sandbox(runtime: LinuxRuntime, pod_config: Callable[..., PodSandboxConfig]) -> str:
    return await runtime.run_pod_sandbox(pod_config())


async def test_container_is_pid_1_with_its_own_proc(runtime: LinuxRuntime, sandbox: str) -> None:
    script = "echo $$; ls /proc | grep -c '^[0-9]'; cat /proc/1/cmdline | tr '\\0' ' '"
    cid = await run(runtime, sandbox, container(["sh", "-c", script]))
    status = await runtime.wait_container(cid)
    assert (status.exit_code, status.reason) == (0, "Completed")
    pid, nprocs, cmdline = log_lines(runtime, cid)
    assert pid == "1"
    assert int(nprocs) <= 4  # sh, ls, grep and nothing of the machine's
    assert cmdline == f"sh -c {script} "


async def test_env_and_working_dir_are_exactly_the_configs(
    runtime: LinuxRuntime, sandbox: str, tmp_path: Path
) -> None:
    cid = await run(runtime, sandbox, container(["env"], working_dir=str(tmp_path)))
    await runtime.wait_container(cid)
    assert sorted(log_lines(runtime, cid)) == sorted(f"{k}={v}" for k, v in ENV.items())
    cid = await run(runtime, sandbox, container(["pwd"], name="pwd", working_dir=str(tmp_path)))
    await runtime.wait_container(cid)
    assert log_lines(runtime, cid) == [str(tmp_path)]


async def test_status_while_running_and_after_exit(runtime: LinuxRuntime, sandbox: str) -> None:
    cid = await runtime.create_container(sandbox, container(["sh", "-c", "sleep 0.2; exit 3"]))
    assert runtime.container_status(cid).state is ContainerState.CREATED
    await runtime.start_container(cid)
    running = runtime.container_status(cid)
    assert running.state is ContainerState.RUNNING and running.pid is not None
    assert running.started_at is not None and running.started_mono is not None
    status = await runtime.wait_container(cid)
    assert (status.state, status.exit_code, status.reason) == (ContainerState.EXITED, 3, "Error")
    assert status.pid is None and status.finished_mono is not None
    assert status.finished_mono - running.started_mono >= 0.15
    await runtime.stop_container(cid, 10)  # exited already: a no-op
    await runtime.remove_container(cid)
    await runtime.remove_container(cid)


async def test_pid_1_without_handler_ignores_sigterm(runtime: LinuxRuntime, sandbox: str) -> None:
    cid = await run(runtime, sandbox, container(["sh", "-c", "sleep 1000 & wait"]))
    pid1 = runtime.container_status(cid).pid
    assert pid1 is not None
    await wait_until(lambda: any(p.comm == "sleep" for p in descendants(pid1)))
    (child,) = descendants(pid1)
    started = time.monotonic()
    await runtime.stop_container(cid, timeout=1)
    elapsed = time.monotonic() - started
    status = runtime.container_status(cid)
    assert (status.exit_code, status.reason) == (137, "Error")
    assert 0.9 <= elapsed < 10  # SIGTERM was dropped: only the SIGKILL after the grace ended it
    assert not alive(child.pid)  # the kernel killed the rest of the namespace


async def test_pid_1_with_term_handler_stops_at_once(runtime: LinuxRuntime, sandbox: str) -> None:
    script = "trap 'echo bye; exit 0' TERM; sleep 1000 & wait"
    cid = await run(runtime, sandbox, container(["sh", "-c", script]))
    pid1 = runtime.container_status(cid).pid
    assert pid1 is not None
    await wait_until(lambda: bool(descendants(pid1)))  # the trap is set once sleep is started
    started = time.monotonic()
    await runtime.stop_container(cid, timeout=30)
    assert time.monotonic() - started < 5
    assert runtime.container_status(cid).exit_code == 0
    assert log_lines(runtime, cid) == ["bye"]


async def test_pid_1_cannot_kill_itself_with_sigterm(runtime: LinuxRuntime, sandbox: str) -> None:
    # A handler that restores the default action and re-raises: fine for an ordinary process,
    # but PID 1 of a namespace never gets a default-action signal from its own namespace.
    code = (
        "import os, signal, sys, time\n"
        "def again(n, f):\n"
        "    signal.signal(n, signal.SIG_DFL); os.write(1, b're-raise\\n'); os.kill(os.getpid(), n)\n"
        "signal.signal(signal.SIGTERM, again)\n"
        "print('ready', flush=True)\n"
        "time.sleep(1000)\n"
    )
    cid = await run(runtime, sandbox, container([PYTHON, "-c", code]))
    await wait_until(lambda: log_lines(runtime, cid) == ["ready"])
    started = time.monotonic()
    await runtime.stop_container(cid, timeout=1)
    assert time.monotonic() - started >= 0.9
    assert runtime.container_status(cid).exit_code == 137
    assert log_lines(runtime, cid) == ["ready", "re-raise"]


async def test_death_by_signal_is_128_plus_n(runtime: LinuxRuntime, sandbox: str) -> None:
    # A fault is signalled by the kernel itself, which even PID 1 cannot ignore.
    argv = [PYTHON, "-c", "import ctypes; ctypes.string_at(0)"]
    cid = await run(runtime, sandbox, container(argv))
    status = await runtime.wait_container(cid)
    assert (status.exit_code, status.reason) == (139, "Error")


async def test_sigkill_at_once_kills_the_whole_namespace(runtime: LinuxRuntime, sandbox: str) -> None:
    cid = await run(runtime, sandbox, container(["sh", "-c", "sleep 1000 & sleep 1000 & wait"]))
    pid1 = runtime.container_status(cid).pid
    assert pid1 is not None
    await wait_until(lambda: len(pid_ns_members(pid1)) == 3)
    members = pid_ns_members(pid1)
    started = time.monotonic()
    await runtime.stop_container(cid, timeout=0)
    assert time.monotonic() - started < 2
    assert runtime.container_status(cid).exit_code == 137
    assert not any(alive(pid) for pid in members)


async def test_missing_executable_is_a_start_error(runtime: LinuxRuntime, sandbox: str) -> None:
    cid = await runtime.create_container(sandbox, container(["no-such-binary", "x"]))
    with pytest.raises(ExecutableError) as err:
        await runtime.start_container(cid)
    assert 'exec: "no-such-binary": executable file not found in $PATH' in str(err.value)
    assert err.value.exit_code == 127
    status = runtime.container_status(cid)
    assert (status.state, status.exit_code, status.reason) == (ContainerState.EXITED, 128, "StartError")
    assert status.message == str(err.value)
    assert (await runtime.wait_container(cid)).reason == "StartError"


@pytest.mark.parametrize(
    ("argv0", "wording", "exit_code"),
    [
        ("/no/such/file", "stat /no/such/file: no such file or directory", 127),
        ("{tmp}/data.txt", "permission denied", 126),
        ("/tmp", "is a directory", 126),
    ],
)
async def test_unrunnable_paths(
    runtime: LinuxRuntime, sandbox: str, tmp_path: Path, argv0: str, wording: str, exit_code: int
) -> None:
    argv0 = argv0.format(tmp=tmp_path)
    (tmp_path / "data.txt").write_text("not a program\n")
    cid = await runtime.create_container(sandbox, container([argv0]))
    with pytest.raises(ExecutableError) as err:
        await runtime.start_container(cid)
    assert f'exec: "{argv0}": {wording}' in str(err.value)
    assert err.value.exit_code == exit_code


async def test_missing_working_dir_is_a_start_error(runtime: LinuxRuntime, sandbox: str) -> None:
    cid = await runtime.create_container(sandbox, container(["true"], working_dir="/no/such/dir"))
    with pytest.raises(StartError, match=r'chdir to cwd \("/no/such/dir"\)'):
        await runtime.start_container(cid)
    assert runtime.container_status(cid).reason == "StartError"


async def test_path_lookup_uses_the_containers_path(
    runtime: LinuxRuntime, sandbox: str, tmp_path: Path
) -> None:
    tool = tmp_path / "bin" / "my-tool"
    tool.parent.mkdir()
    tool.write_text("#!/bin/sh\necho from my-tool\n")
    tool.chmod(0o755)
    env = {"PATH": f"{tool.parent}:/usr/bin:/bin"}
    cid = await run(runtime, sandbox, container(["my-tool"], env=env))
    await runtime.wait_container(cid)
    assert log_lines(runtime, cid) == ["from my-tool"]
    cid = await runtime.create_container(sandbox, container(["my-tool"], name="other"))
    with pytest.raises(StartError):
        await runtime.start_container(cid)


# A PID 1 that logs each SIGTERM and goes on running: only a SIGKILL ends it.
# The handler writes with os.write: a print() there can run inside the main thread's own
# print('ready') (signal handlers run between its I/O steps) and die of a reentrant call.
TERM_COUNTER = (
    "import os, signal, time\n"
    "signal.signal(signal.SIGTERM, lambda n, f: os.write(1, b'TERM\\n'))\n"
    "print('ready', flush=True)\n"
    "while True: time.sleep(1)\n"
)


async def test_reissued_stop_does_not_resend_the_stop_signal(runtime: LinuxRuntime, sandbox: str) -> None:
    """The kubelet cancels a stop when a shorter grace period arrives and stops again: as with
    containerd, the stop signal went out once, and the new stop SIGKILLs after its own timeout."""
    cid = await run(runtime, sandbox, container([PYTHON, "-c", TERM_COUNTER]))
    await wait_until(lambda: log_lines(runtime, cid) == ["ready"])
    first = asyncio.ensure_future(runtime.stop_container(cid, timeout=30))
    await wait_until(lambda: log_lines(runtime, cid) == ["ready", "TERM"])
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    # The cancelled stop left it as it was: signalled, running, killable.
    assert runtime.container_status(cid).state is ContainerState.RUNNING
    started = time.monotonic()
    await runtime.stop_container(cid, timeout=0.5)
    assert 0.4 <= time.monotonic() - started < 5
    assert runtime.container_status(cid).exit_code == 137
    assert log_lines(runtime, cid) == ["ready", "TERM"]


async def test_concurrent_stops_both_return(runtime: LinuxRuntime, sandbox: str) -> None:
    cid = await run(runtime, sandbox, container([PYTHON, "-c", TERM_COUNTER]))
    await wait_until(lambda: log_lines(runtime, cid) == ["ready"])
    started = time.monotonic()
    await asyncio.wait_for(
        asyncio.gather(runtime.stop_container(cid, 30), runtime.stop_container(cid, 0.3)), timeout=10
    )
    assert time.monotonic() - started < 5  # the shorter one SIGKILLed, the longer one saw it end
    assert runtime.container_status(cid).exit_code == 137, log_lines(runtime, cid)
    assert log_lines(runtime, cid).count("TERM") <= 1


async def test_cancelled_start_leaves_nothing_and_can_be_retried(runtime: LinuxRuntime, sandbox: str) -> None:
    cid = await runtime.create_container(sandbox, container(["sleep", "1000"]))
    before = {p.pid for p in descendants(os.getpid()) if p.state != "Z"}
    task = asyncio.ensure_future(runtime.start_container(cid))
    await asyncio.sleep(0)  # it is now waiting for the sandbox thread to spawn
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # What the thread spawned anyway has been killed and reaped.
    await wait_until(lambda: {p.pid for p in descendants(os.getpid()) if p.state != "Z"} == before)
    assert runtime.container_status(cid).state is ContainerState.CREATED
    await runtime.start_container(cid)
    assert runtime.container_status(cid).state is ContainerState.RUNNING
    await runtime.stop_container(cid, 0)
    assert runtime.container_status(cid).exit_code == 137


async def test_output_written_just_before_exit_is_in_the_log(runtime: LinuxRuntime, sandbox: str) -> None:
    """wait_container returns only once both pipes are drained into the log."""
    script = "head -c 300000 /dev/zero | tr '\\0' x; echo; echo last >&2"
    cid = await run(runtime, sandbox, container(["sh", "-c", script]))
    status = await runtime.wait_container(cid)
    assert status.exit_code == 0
    lines = log_lines(runtime, cid)
    assert "last" in lines  # (the order across the two streams is not defined)
    assert sum(len(line) for line in lines if line != "last") == 300000
