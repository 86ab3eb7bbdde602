"""Helpers shared by the runtime tests."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable

from hitless.runtime.cri import ContainerConfig
from hitless.runtime.linux import LinuxRuntime
from hitless.runtime.linux.procfs import pids, read_stat

ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "FOO": "bar"}
PYTHON = sys.executable


def container(
    argv: list[str],
    name: str = "app",
    attempt: int = 0,
    env: dict[str, str] | None = None,
    working_dir: str | None = "/",
) -> ContainerConfig:
    return ContainerConfig(
        name=name, argv=argv, env=ENV if env is None else env, working_dir=working_dir, attempt=attempt
    )


async def run(rt: LinuxRuntime, sandbox_id: str, config: ContainerConfig) -> str:
    cid = await rt.create_container(sandbox_id, config)
    await rt.start_container(cid)
    return cid


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def log_lines(rt: LinuxRuntime, cid: str) -> list[str]:
    path = rt.container_status(cid).log_path
    assert path is not None
    if not path.exists():
        return []
    return [line.split(" ", 3)[3] for line in path.read_text().splitlines()]


def pid_ns_members(pid1: int, zombies: bool = False) -> list[int]:
    """Every live process (seen from the engine) of the PID namespace whose init is ``pid1``.

    Zombies are left out unless asked for: an orphan killed in a container whose PID 1 never
    calls wait() (``sleep``) stays a zombie until the container ends, as on a real node.
    """
    target = os.readlink(f"/proc/{pid1}/ns/pid")
    members = []
    for pid in pids():
        try:
            same = os.readlink(f"/proc/{pid}/ns/pid") == target
        except OSError:
            continue
        st = read_stat(pid)
        if same and st is not None and (zombies or st.state != "Z"):
            members.append(pid)
    return members


def alive(pid: int) -> bool:
    st = read_stat(pid)
    return st is not None and st.state != "Z"
