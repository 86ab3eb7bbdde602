"""CRI mounts of a host-command container: bind mounts in the container's own mount namespace,
nothing created or mounted on the host, before, during or after."""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from hitless.runtime.cri import Mount, PodSandboxConfig, StartError
from hitless.runtime.linux import LinuxRuntime

from .helpers import container, log_lines, run


@pytest.fixture
async def sandbox(runtime: LinuxRuntime, pod_config: Callable[..., PodSandboxConfig]) -> str:
    return await runtime.run_pod_sandbox(pod_config())


def on_host(path: str) -> bool:
    return os.path.lexists(path)


def mountinfo() -> list[str]:
    # Mount ids and the fields that change as other tests run elsewhere are left out: the mount
    # points and their sources are what must not change.
    with open("/proc/self/mountinfo") as f:
        return sorted(" ".join(line.split()[3:5]) for line in f)


async def test_dirs_and_files_at_missing_and_existing_paths(
    runtime: LinuxRuntime, sandbox: str, tmp_path: Path
) -> None:
    volume = tmp_path / "volume"
    volume.mkdir()
    (volume / "index.html").write_text("from the volume\n")
    config_file = tmp_path / "app.conf"
    config_file.write_text("key=value\n")
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "host-only").write_text("hidden in the container\n")
    tag = uuid.uuid4().hex[:8]
    missing_top = f"/hitless-test-{tag}"
    missing_etc = f"/etc/hitless-test-{tag}/app.conf"
    before = mountinfo()

    mounts = (
        Mount(f"{missing_top}/www", str(volume)),  # nearest existing ancestor: / itself
        Mount(missing_etc, str(config_file), readonly=True),  # a file under a mirrored /etc
        Mount(str(existing), str(volume)),  # covers a directory that exists
    )
    script = (
        f"cat {missing_top}/www/index.html {missing_etc}; ls {existing}; "
        f"echo written > {missing_top}/www/new.txt; "
        f"(echo overwrite > {missing_etc}) 2>/dev/null || echo refused; "
        "test -f /etc/passwd && echo etc-intact; echo $$"
    )
    cid = await run(runtime, sandbox, dataclasses.replace(container(["sh", "-c", script]), mounts=mounts))
    status = await runtime.wait_container(cid)
    lines = log_lines(runtime, cid)
    assert status.exit_code == 0, lines
    assert lines[:3] == ["from the volume", "key=value", "index.html"]
    assert "refused" in lines
    assert lines[-2:] == ["etc-intact", "1"]
    # Writes to a read-write mount reach the host's directory; the read-only file is unchanged.
    assert (volume / "new.txt").read_text() == "written\n"
    assert config_file.read_text() == "key=value\n"
    # Nothing was made or mounted on the host.
    assert not on_host(missing_top)
    assert not on_host(os.path.dirname(missing_etc))
    assert sorted(p.name for p in existing.iterdir()) == ["host-only"]
    assert mountinfo() == before


async def test_the_mount_is_private_to_its_container(
    runtime: LinuxRuntime, pod_config: Callable[..., PodSandboxConfig], tmp_path: Path
) -> None:
    volume = tmp_path / "volume"
    volume.mkdir()
    (volume / "secret").write_text("mine\n")
    target = f"/hitless-test-{uuid.uuid4().hex[:8]}"
    pod_a = await runtime.run_pod_sandbox(pod_config("a"))
    pod_b = await runtime.run_pod_sandbox(pod_config("b"))
    with_mount = dataclasses.replace(container(["sleep", "30"]), mounts=(Mount(target, str(volume)),))
    a = await run(runtime, pod_a, with_mount)
    b = await run(runtime, pod_b, container(["sh", "-c", f"ls {target} || echo absent"]))
    await runtime.wait_container(b)
    assert log_lines(runtime, b)[-1] == "absent"
    result = await runtime.exec_sync(a, ["cat", f"{target}/secret"], timeout=5)
    assert (result.exit_code, result.output) == (0, b"mine\n")


async def test_missing_source_is_a_start_error(runtime: LinuxRuntime, sandbox: str, tmp_path: Path) -> None:
    config = dataclasses.replace(container(["true"]), mounts=(Mount("/data", str(tmp_path / "nope")),))
    cid = await runtime.create_container(sandbox, config)
    with pytest.raises(StartError) as err:
        await runtime.start_container(cid)
    assert f'error mounting "{tmp_path / "nope"}" to rootfs at "/data": no such file or directory' in str(
        err.value
    )
    assert runtime.container_status(cid).reason == "StartError"
    assert not on_host("/data")


async def test_command_and_working_dir_inside_a_volume(
    runtime: LinuxRuntime, sandbox: str, tmp_path: Path
) -> None:
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "run.sh").write_text('#!/bin/sh\necho "running in $(pwd)"\n')
    (scripts / "run.sh").chmod(0o755)
    target = f"/hitless-test-{uuid.uuid4().hex[:8]}"
    config = dataclasses.replace(
        container([f"{target}/run.sh"], working_dir=target),
        mounts=(Mount(target, str(scripts), readonly=True),),
    )
    cid = await run(runtime, sandbox, config)
    assert (await runtime.wait_container(cid)).exit_code == 0
    assert log_lines(runtime, cid) == [f"running in {target}"]
    assert not on_host(target)


@pytest.mark.parametrize("propagation", ["rslave", "rshared"])
async def test_no_mount_reaches_the_host_whatever_the_propagation(
    runtime: LinuxRuntime, sandbox: str, tmp_path: Path, propagation: str
) -> None:
    before = mountinfo()
    mounts = (Mount(f"/hitless-test-{uuid.uuid4().hex[:8]}", str(tmp_path), propagation=propagation),)
    cid = await run(runtime, sandbox, dataclasses.replace(container(["sleep", "30"]), mounts=mounts))
    result = await runtime.exec_sync(cid, ["grep", "-c", "hitless-test", "/proc/self/mountinfo"], timeout=5)
    assert result.output.strip() != b"0"  # the container has its mount...
    assert mountinfo() == before  # ...and the host has none of the container's, while it runs
