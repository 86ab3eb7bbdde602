"""Many pods started and stopped: the engine's fds, threads, children and loop stay flat."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

from hitless.runtime.cri import ContainerState, PodSandboxConfig
from hitless.runtime.linux import LinuxRuntime
from hitless.runtime.linux.procfs import descendants

from .helpers import container, run

PODS = 40
AT_ONCE = 8

# Exits at once on SIGTERM: the stop with a timeout takes the short path.
TERM_EXITS = "trap 'exit 0' TERM; sleep 1000 & wait"


def footprint() -> dict[str, int]:
    loop = asyncio.get_running_loop()
    selector = getattr(loop, "_selector", None)
    return {
        "fds": len(os.listdir("/proc/self/fd")),
        "threads": len(os.listdir("/proc/self/task")),
        "children": len(descendants(os.getpid())),
        # add_reader registrations (pidfds, pipes) left behind would show here.
        "readers": len(selector.get_map()) if selector is not None else 0,
        "tasks": len(asyncio.all_tasks()),
    }


async def pod_lifecycle(rt: LinuxRuntime, pod_config: Callable[..., PodSandboxConfig], i: int) -> None:
    sandbox = await rt.run_pod_sandbox(pod_config(f"churn-{i}"))
    app = await run(rt, sandbox, container(["sh", "-c", TERM_EXITS] if i % 2 else ["sleep", "1000"]))
    result = await rt.exec_sync(app, ["sh", "-c", "echo ok"], timeout=5)
    assert result.output == b"ok\n"
    timed_out = await rt.exec_sync(app, ["sleep", "1000"], timeout=0.05)
    assert timed_out.timed_out
    await rt.stop_container(app, 2 if i % 2 else 0)
    assert rt.container_status(app).state is ContainerState.EXITED
    await rt.remove_container(app)
    await rt.remove_pod_sandbox(sandbox)


async def test_pod_churn_leaks_nothing(
    runtime: LinuxRuntime, pod_config: Callable[..., PodSandboxConfig]
) -> None:
    await pod_lifecycle(runtime, pod_config, -1)  # first use: lazy imports, the loop's own fds
    await asyncio.sleep(0.1)
    before = footprint()
    for batch in range(0, PODS, AT_ONCE):
        await asyncio.gather(*(pod_lifecycle(runtime, pod_config, i) for i in range(batch, batch + AT_ONCE)))
    await asyncio.sleep(0.1)  # sandbox threads end just after their stop returns
    assert footprint() == before
    assert runtime._sandboxes == {} and runtime._containers == {}
