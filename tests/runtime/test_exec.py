"""ExecSync: commands run inside a running container, killed with their whole tree on timeout."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable

import pytest

from hitless.runtime.cri import PodSandboxConfig, RuntimeError_
from hitless.runtime.linux import ExecutableError, LinuxRuntime

from .helpers import container, pid_ns_members, run, wait_until


@pytest.fixture
async def app(runtime: LinuxRuntime, pod_config: Callable[..., PodSandboxConfig]) -> str:
    sandbox = await runtime.run_pod_sandbox(pod_config("exec-pod"))
    return await run(runtime, sandbox, container(["sleep", "1000"], working_dir="/tmp"))


async def test_exec_runs_in_the_containers_namespaces(runtime: LinuxRuntime, app: str) -> None:
    script = "echo $FOO; pwd; hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo; echo $$"
    result = await runtime.exec_sync(app, ["sh", "-c", script], timeout=10)
    foo, cwd, hostname, pid1_cmdline, own_pid = result.output.decode().splitlines()
    assert (result.exit_code, result.timed_out) == (0, False)
    assert (foo, cwd, hostname) == ("bar", "/tmp", "exec-pod")
    assert pid1_cmdline == "sleep 1000 "
    assert 1 < int(own_pid) < 100  # a pid of the container's namespace, not the machine's


async def test_exit_code_and_output_order(runtime: LinuxRuntime, app: str) -> None:
    script = "echo err >&2; echo out; exit 7"
    result = await runtime.exec_sync(app, ["sh", "-c", script], timeout=10)
    assert result.exit_code == 7
    assert result.output == b"out\nerr\n"  # stdout, then stderr


async def test_output_is_capped(runtime: LinuxRuntime, app: str) -> None:
    script = "head -c 5000 /dev/zero | tr '\\0' o; head -c 5000 /dev/zero | tr '\\0' e >&2"
    result = await runtime.exec_sync(app, ["sh", "-c", script], timeout=10, output_limit=6000)
    assert result.output == b"o" * 5000 + b"e" * 1000
    result = await runtime.exec_sync(app, ["sh", "-c", script], timeout=10, output_limit=100)
    assert result.output == b"o" * 100


async def test_timeout_kills_the_whole_exec_tree(runtime: LinuxRuntime, app: str) -> None:
    pid1 = runtime.container_status(app).pid
    assert pid1 is not None
    assert len(pid_ns_members(pid1)) == 1
    started = time.monotonic()
    # A background child that outlives its shell is re-parented to PID 1 but stays in the session.
    result = await runtime.exec_sync(app, ["sh", "-c", "(sleep 100 &); sleep 100 & sleep 100"], timeout=0.5)
    assert time.monotonic() - started < 5
    assert result.timed_out
    await wait_until(lambda: len(pid_ns_members(pid1)) == 1, timeout=5)
    assert runtime.container_status(app).pid == pid1  # the container itself is untouched


async def test_missing_binary(runtime: LinuxRuntime, app: str) -> None:
    with pytest.raises(ExecutableError) as err:
        await runtime.exec_sync(app, ["no-such-probe"], timeout=5)
    assert 'exec: "no-such-probe": executable file not found in $PATH' in str(err.value)
    assert str(err.value).startswith("OCI runtime exec failed")
    assert err.value.exit_code == 127


async def test_exec_dies_with_the_container(runtime: LinuxRuntime, app: str) -> None:
    task = asyncio.ensure_future(runtime.exec_sync(app, ["sleep", "1000"], timeout=None))
    pid1 = runtime.container_status(app).pid
    assert pid1 is not None
    await wait_until(lambda: len(pid_ns_members(pid1)) == 2)
    await runtime.stop_container(app, timeout=0)
    result = await asyncio.wait_for(task, 5)
    assert result.exit_code == 137 and not result.timed_out
    with pytest.raises(RuntimeError_, match="not in running state"):
        await runtime.exec_sync(app, ["true"], timeout=5)


async def test_cancelled_exec_leaves_nothing_running(runtime: LinuxRuntime, app: str) -> None:
    pid1 = runtime.container_status(app).pid
    assert pid1 is not None
    task = asyncio.ensure_future(runtime.exec_sync(app, ["sh", "-c", "sleep 1000 & wait"], timeout=None))
    await wait_until(lambda: len(pid_ns_members(pid1)) == 3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert pid_ns_members(pid1) == [pid1]


async def test_without_path_in_env_containerds_default_is_used(
    runtime: LinuxRuntime, pod_config: Callable[..., PodSandboxConfig]
) -> None:
    sandbox = await runtime.run_pod_sandbox(pod_config("no-path"))
    cid = await run(runtime, sandbox, container(["sleep", "1000"], env={"A": "1"}))
    result = await runtime.exec_sync(cid, ["env"], timeout=10)
    assert result.output == b"A=1\n"


async def test_exec_cancelled_twice_still_cleans_up(runtime: LinuxRuntime, app: str) -> None:
    """The caller gives up, then its caller too, while the exec's tree is being killed; a process
    that left the exec's session keeps its pipes open, and the engine still lets go of them."""
    pid1 = runtime.container_status(app).pid
    assert pid1 is not None
    fds = len(os.listdir("/proc/self/fd"))
    argv = ["sh", "-c", "setsid sleep 1000 & sleep 1000"]
    task = asyncio.ensure_future(runtime.exec_sync(app, argv, timeout=None))
    await wait_until(lambda: len(pid_ns_members(pid1)) == 4)
    task.cancel()
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The session is gone; the escapee stays, as it would in a container, until PID 1 dies.
    await wait_until(lambda: len(pid_ns_members(pid1)) == 2, timeout=5)
    await wait_until(lambda: len(os.listdir("/proc/self/fd")) == fds, timeout=5)
