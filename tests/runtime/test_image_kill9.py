"""SIGKILL of the whole engine while image containers run: no mount is left on the host.

Every mount is made in a container's own mount namespace (inside the engine's private one), and
a namespace goes with its last process: the kernel cleans up, nothing of hitless has to run."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import hitless

from .busybox_rootfs import available, make_rootfs
from .test_mounts import mountinfo

pytestmark = pytest.mark.skipif(not available(), reason="needs busybox-static")

SRC = Path(hitless.__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from hitless.runtime.linux import enter_engine_namespaces
    enter_engine_namespaces()
    from hitless.runtime.cri import ContainerConfig, Mount, PodSandboxConfig
    from hitless.runtime.linux import LinuxRuntime

    async def main(rootfs, state, volume, logs):
        rt = LinuxRuntime(state_dir=Path(state))
        for name in ("a", "b"):
            sandbox = await rt.run_pod_sandbox(PodSandboxConfig(name, "default", name, name, Path(logs)))
            config = ContainerConfig(
                "app", ["sleep", "1000"], {"PATH": "/bin"}, None, 0,
                mounts=(Mount("/data", volume, readonly=True),), rootfs=Path(rootfs),
            )
            await rt.start_container(await rt.create_container(sandbox, config))
        print("READY", flush=True)
        await asyncio.sleep(1000)

    asyncio.run(main(*sys.argv[1:]))
    """
)


def processes_mounting(path: Path) -> list[int]:
    """Every process of the machine whose mount namespace has a mount from under ``path``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/mountinfo") as f:
                    if str(path) in f.read():
                        found.append(int(entry))
            except OSError:
                pass
    return found


def test_kill_9_leaves_no_mount(tmp_path: Path) -> None:
    rootfs = make_rootfs(tmp_path / "rootfs")
    state, volume = tmp_path / "state", tmp_path / "volume"
    volume.mkdir()
    before = mountinfo()
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(SRC), "PYTHONDONTWRITEBYTECODE": "1"}
    argv = [sys.executable, "-c", SCRIPT, str(rootfs), str(state), str(volume), str(tmp_path / "logs")]
    outer = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd="/")
    try:
        assert outer.stdout is not None and outer.stderr is not None
        assert select.select([outer.stdout], [], [], 30)[0], "the engine did not get ready"
        line = outer.stdout.readline().decode()
        assert line.startswith("READY"), line + outer.stderr.read().decode()
        # The overlays exist, in the engine's namespaces only.
        assert len(list((state / "containers").iterdir())) == 2
        assert mountinfo() == before
        assert processes_mounting(tmp_path)  # the containers' namespaces, while they run
        os.kill(outer.pid, signal.SIGKILL)
        outer.wait(timeout=10)
    finally:
        if outer.poll() is None:
            outer.kill()
        outer.communicate()
    assert mountinfo() == before
    # The engine's init died with P, the kernel killed its PID namespace, and every mount
    # namespace went with its processes: no process anywhere still mounts the image or volume.
    deadline = time.monotonic() + 10
    while processes_mounting(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_mounting(tmp_path) == []
