"""Containers that run in an image's root: an overlay per container, the kubelet's /etc files,
a minimal /dev, the image's user, execs inside the image, and nothing left on the host."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from hitless.runtime.cri import ContainerConfig, Mount, PodSandboxConfig, StartError
from hitless.runtime.linux import ExecutableError, LinuxRuntime

from .busybox_rootfs import available, make_rootfs
from .helpers import log_lines, run
from .test_mounts import mountinfo, on_host

pytestmark = pytest.mark.skipif(
    not available(), reason="needs busybox-static (apt-get install busybox-static)"
)

IMAGE_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_rootfs(tmp_path_factory.mktemp("image") / "rootfs")


@pytest.fixture
async def sandbox(runtime: LinuxRuntime, pod_config: Callable[..., PodSandboxConfig]) -> str:
    return await runtime.run_pod_sandbox(pod_config("web-1"))


def image_container(rootfs: Path, argv: list[str], **fields: object) -> ContainerConfig:
    config = ContainerConfig(name="app", argv=argv, env=IMAGE_ENV, working_dir=None, attempt=0, rootfs=rootfs)
    return dataclasses.replace(config, **fields)  # type: ignore[arg-type]


async def test_pid_1_in_the_image_with_the_pods_etc_files(
    runtime: LinuxRuntime, sandbox: str, rootfs: Path
) -> None:
    script = (
        "echo $$ $HOME; id -u; id -G; pwd; cat /etc/hostname; head -1 /etc/hosts; "
        "test -e /usr/bin/python3 || echo no-host-files; ls /dev | tr '\\n' ' '; echo; "
        "(echo x > /sys/x) 2>/dev/null || echo sys-ro; echo ok > /dev/null && echo dev-null; "
        "echo bye > /dev/termination-log && echo new > /tmp/new && echo written; "
        "grep ' /dev/pts ' /proc/self/mountinfo | sed 's/.* - //'"
    )
    before = mountinfo()
    config = image_container(
        rootfs, ["sh", "-c", script], user="www", working_dir="/srv/app",
        termination_message_path="/dev/termination-log",
    )  # fmt: skip
    cid = await run(runtime, sandbox, config)
    status = await runtime.wait_container(cid)
    lines = log_lines(runtime, cid)
    assert status.exit_code == 0, lines
    pid, uid, groups, cwd, hostname, hosts, missing, dev, *rest = lines
    # HOME from the image's passwd entry of the user (runc's default when the env has none).
    assert (pid, uid, cwd, hostname) == ("1 /www", "1000", "/srv/app", "web-1")
    assert groups.split() == ["1000", "2000"]  # its own group, then /etc/group's "logs"
    assert hosts == "# Kubernetes-managed hosts file."
    assert missing == "no-host-files"
    for name in ("null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "ptmx", "fd", "stdout"):
        assert name in dev.split()
    # runc's default devpts: new ptys belong to tty (gid 5), every id being mapped as root.
    assert rest == ["sys-ro", "dev-null", "written", "devpts devpts rw,gid=5,mode=620,ptmxmode=666"]
    # What it wrote to its termination-message file is the terminated state's message.
    assert status.message == "bye\n"
    # Every write went to the container's own upper dir: the image is unchanged.
    assert not on_host(str(rootfs / "tmp" / "new"))
    assert mountinfo() == before


async def test_exec_runs_inside_the_image_as_its_user(
    runtime: LinuxRuntime, sandbox: str, rootfs: Path
) -> None:
    # The image's user "www" (group 1000, and "logs" from its /etc/group), plus the pod's
    # fsGroup/supplementalGroups: the exec gets the same uid, gid and groups as PID 1.
    config = image_container(rootfs, ["sleep", "30"], user="www", supplemental_groups=(3000,))
    cid = await run(runtime, sandbox, config)
    script = "id -u; id -g; id -G; grep Groups /proc/1/status; cat /www/index.html; echo $HOME"
    result = await runtime.exec_sync(cid, ["sh", "-c", script], timeout=5)
    assert result.exit_code == 0, result.output
    assert result.output.decode().split("\n") == [
        "1000", "1000", "1000 2000 3000", "Groups:\t1000 2000 3000 ", "hello from the image", "/www", "",
    ]  # fmt: skip
    # The host has python3 and sleep; the image has only busybox: a distroless-style miss.
    with pytest.raises(ExecutableError) as err:
        await runtime.exec_sync(cid, ["python3", "-c", "pass"], timeout=5)
    assert 'exec: "python3": executable file not found in $PATH' in str(err.value)


async def test_writes_are_per_container(runtime: LinuxRuntime, sandbox: str, rootfs: Path) -> None:
    a = await run(runtime, sandbox, image_container(rootfs, ["sleep", "30"]))
    b = await run(runtime, sandbox, image_container(rootfs, ["sleep", "30"], name="b"))
    wrote = await runtime.exec_sync(a, ["sh", "-c", "echo a > /www/index.html"], timeout=5)
    assert wrote.exit_code == 0
    seen_a = await runtime.exec_sync(a, ["cat", "/www/index.html"], timeout=5)
    seen_b = await runtime.exec_sync(b, ["cat", "/www/index.html"], timeout=5)
    assert (seen_a.output, seen_b.output) == (b"a\n", b"hello from the image\n")
    assert (rootfs / "www" / "index.html").read_text() == "hello from the image\n"


async def test_cri_mounts_go_under_the_image_root(
    runtime: LinuxRuntime, sandbox: str, rootfs: Path, tmp_path: Path
) -> None:
    volume = tmp_path / "config"
    volume.mkdir()
    (volume / "app.conf").write_text("port=8080\n")
    secret = tmp_path / "token"
    secret.write_text("s3cr3t\n")
    mounts = (
        Mount("/etc/app", str(volume), readonly=True),
        # Through the image's absolute symlink /var/run -> /run: lands in the image's /run.
        Mount("/var/run/secrets/token", str(secret), readonly=True),
    )
    script = "cat /etc/app/app.conf /run/secrets/token; touch /etc/app/x 2>/dev/null || echo refused"
    cid = await run(runtime, sandbox, image_container(rootfs, ["sh", "-c", script], mounts=mounts))
    await runtime.wait_container(cid)
    assert log_lines(runtime, cid) == ["port=8080", "s3cr3t", "refused"]
    assert not on_host("/run/secrets/token")
    assert not on_host(str(rootfs / "etc" / "app"))


async def test_unknown_user_is_a_start_error(runtime: LinuxRuntime, sandbox: str, rootfs: Path) -> None:
    cid = await runtime.create_container(sandbox, image_container(rootfs, ["true"], user="nginx"))
    with pytest.raises(StartError) as err:
        await runtime.start_container(cid)
    assert "unable to find user nginx: no matching entries in passwd file" in str(err.value)


async def test_missing_command_in_the_image(runtime: LinuxRuntime, sandbox: str, rootfs: Path) -> None:
    cid = await runtime.create_container(sandbox, image_container(rootfs, ["python3"]))
    with pytest.raises(ExecutableError) as err:
        await runtime.start_container(cid)
    assert 'exec: "python3": executable file not found in $PATH' in str(err.value)


async def test_a_long_termination_message_keeps_its_last_4096_bytes(
    runtime: LinuxRuntime, sandbox: str, rootfs: Path
) -> None:
    script = "i=0; while [ $i -lt 500 ]; do echo line-$i; i=$((i+1)); done > /dev/termination-log; exit 3"
    config = image_container(rootfs, ["sh", "-c", script], termination_message_path="/dev/termination-log")
    status = await runtime.wait_container(await run(runtime, sandbox, config))
    assert status.exit_code == 3 and status.message is not None
    assert len(status.message.encode()) == 4096 and status.message.endswith("line-498\nline-499\n")


async def test_container_dirs_of_a_killed_run_are_removed_by_the_next(
    runtime: LinuxRuntime, sandbox: str, rootfs: Path
) -> None:
    import fcntl
    import os
    import shutil
    import tempfile

    from hitless.runtime.linux.runtime import STATE_PREFIX

    abandoned = Path(tempfile.mkdtemp(prefix=STATE_PREFIX))
    (abandoned / "lock").touch()
    (abandoned / "containers" / "x" / "upper").mkdir(parents=True)
    alive = Path(tempfile.mkdtemp(prefix=STATE_PREFIX))
    fd = os.open(alive / "lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # a run still going
        await run(runtime, sandbox, image_container(rootfs, ["true"]))
        assert not on_host(str(abandoned)) and on_host(str(alive))
    finally:
        os.close(fd)
        shutil.rmtree(alive)


async def test_etc_hosts_has_the_pods_fqdn_and_host_aliases(
    runtime: LinuxRuntime, pod_config: Callable[..., PodSandboxConfig], rootfs: Path
) -> None:
    config = dataclasses.replace(
        pod_config("db-0"),
        host_domain="db.default.svc.cluster.local",
        host_aliases=(("10.1.2.3", ("foo.local", "bar.local")),),
    )
    sandbox = await runtime.run_pod_sandbox(config)
    ip = runtime.pod_sandbox_status(sandbox).ip
    cid = await run(runtime, sandbox, image_container(rootfs, ["cat", "/etc/hosts"]))
    await runtime.wait_container(cid)
    assert log_lines(runtime, cid)[-4:] == [
        f"{ip}\tdb-0.db.default.svc.cluster.local\tdb-0",
        "",
        "# Entries added by HostAliases.",
        "10.1.2.3\tfoo.local\tbar.local",
    ]


async def test_exec_in_a_working_dir_reached_through_the_images_symlink(
    runtime: LinuxRuntime, sandbox: str, rootfs: Path
) -> None:
    cid = await run(runtime, sandbox, image_container(rootfs, ["sleep", "30"], working_dir="/work"))
    result = await runtime.exec_sync(cid, ["cat", "index.html"], timeout=5)
    assert (result.exit_code, result.output) == (0, b"hello from the image\n")


async def test_containerds_masked_and_read_only_kernel_paths(
    runtime: LinuxRuntime, sandbox: str, rootfs: Path
) -> None:
    script = (
        "cat /proc/kcore 2>/dev/null | head -c 16 | wc -c; ls /sys/firmware | wc -l; "
        "cat /proc/sys/kernel/hostname; "
        "(echo other > /proc/sys/kernel/hostname) 2>/dev/null || echo refused"
    )
    cid = await run(runtime, sandbox, image_container(rootfs, ["sh", "-c", script]))
    await runtime.wait_container(cid)
    # kcore reads as /dev/null (where this PID namespace's /proc shows it at all), /sys/firmware
    # is empty, /proc/sys can be read, not written.
    assert [line.strip() for line in log_lines(runtime, cid)] == ["0", "0", "web-1", "refused"]


async def test_dev_shm_is_the_pods(
    runtime: LinuxRuntime, pod_config: Callable[..., PodSandboxConfig], sandbox: str, rootfs: Path
) -> None:
    # One tmpfs per pod sandbox (containerd's sandbox shm), shared by its containers, which
    # share the pod's IPC namespace; another pod has its own.
    before = mountinfo()
    a = await run(runtime, sandbox, image_container(rootfs, ["sleep", "30"]))
    script = "echo hi > /dev/shm/from-a && grep ' /dev/shm ' /proc/self/mountinfo"
    wrote = await runtime.exec_sync(a, ["sh", "-c", script], timeout=5)
    assert wrote.exit_code == 0, wrote.output
    options = wrote.output.decode().split()
    assert "rw,nosuid,nodev,noexec" in options[5] and "size=65536k" in options[-1], options
    b = await run(runtime, sandbox, image_container(rootfs, ["cat", "/dev/shm/from-a"], name="b"))
    other = await runtime.run_pod_sandbox(pod_config("web-2"))
    c = await run(runtime, other, image_container(rootfs, ["ls", "-A", "/dev/shm"], name="c"))
    assert (await runtime.wait_container(b)).exit_code == 0
    assert (await runtime.wait_container(c)).exit_code == 0
    assert (log_lines(runtime, b), log_lines(runtime, c)) == (["hi"], [])
    # Mounted in the containers' namespaces only.
    assert mountinfo() == before
