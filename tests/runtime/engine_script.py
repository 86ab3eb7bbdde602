"""An engine in miniature for the kill -9 tests: bootstrap, start pods, report, wait to be killed.

Run as ``python engine_script.py LOG_DIR``. Prints ``READY`` once everything runs. On SIGINT it
shuts the runtime down and exits 130, as the CLI will.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from hitless.runtime.linux import enter_engine_namespaces

engine = enter_engine_namespaces()

from hitless.runtime.cri import ContainerConfig, PodSandboxConfig  # noqa: E402
from hitless.runtime.linux import LinuxRuntime  # noqa: E402

ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin"}


async def main(log_dir: Path) -> None:
    rt = LinuxRuntime()
    try:
        for name in ("pod-a", "pod-b"):
            sandbox = await rt.run_pod_sandbox(PodSandboxConfig(name, "default", name, name, log_dir / name))
            for argv in (
                # PID 1 without a TERM handler, with children.
                ["sh", "-c", "sleep 1000 & sleep 1000 & wait"],
                ["sleep", "1000"],
            ):
                cid = await rt.create_container(sandbox, ContainerConfig(argv[0], argv, ENV, "/", 0))
                await rt.start_container(cid)
        # The pod network works from this engine (the pod IP is local only inside the pod).
        ip = rt.pod_sandbox_status(sandbox).ip
        listener = await rt.sandbox_socket(sandbox)
        listener.bind((ip, 0))
        listener.listen()
        _, writer = await rt.open_connection(sandbox, ip, listener.getsockname()[1], timeout=5)
        writer.close()
        listener.close()
        # An exec still running when the engine dies.
        exec_task = asyncio.ensure_future(rt.exec_sync(cid, ["sleep", "1000"], None))
        await asyncio.sleep(0.3)
        print(f"READY user_namespace={engine.user_namespace} net=ok", flush=True)
        await exec_task
    finally:
        await rt.shutdown()


try:
    asyncio.run(main(Path(sys.argv[1])))
except KeyboardInterrupt:
    sys.exit(130)
