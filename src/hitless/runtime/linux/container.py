"""Containers: a command run as PID 1 of its own PID namespace inside its pod's namespaces.

How PID 1 is started (and why no ``/proc`` scan is needed to find it): the sandbox's thread
calls ``unshare(CLONE_NEWPID)``, which changes only the PID namespace *of that thread's next
children*, and then forks the command. That child is PID 1 of the new namespace and a direct
child of the engine; before it execs the command in place it builds its own mount namespace:
``mounts.Stage`` (the CRI mounts, an image's root, a fresh ``/proc``) run in the forked child,
or, for a host command with no mounts, ``unshare --mount-proc -- argv``, which only makes the
namespace and ``/proc`` and execs argv in place (cheaper: vfork). So the engine knows PID
1's pid from the spawn, waits for it itself, gets its real exit status (``-9`` after SIGKILL,
so 137, with no helper process in between to mangle it) and signals it through a pidfd.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from hitless.clock import Clock
from hitless.runtime.cri import ContainerConfig, ContainerState, ContainerStatus, Mount, StartError
from hitless.runtime.linux import bootstrap, lookup, nul
from hitless.runtime.linux.etcfiles import EtcFiles
from hitless.runtime.linux.logs import CriLogWriter
from hitless.runtime.linux.mounts import ImageRoot, Plan, Stage
from hitless.runtime.linux.netns import PidNamespace
from hitless.runtime.linux.process import ChildProcess, PipeReader, kubernetes_exit_code
from hitless.runtime.linux.rootfs import Ids, UserError, locator, resolve_user
from hitless.runtime.linux.sandbox import Sandbox
from hitless.tasks import spawn as spawn_task

# How long start_container waits for the unshare helper to exec the command (normally a few ms).
EXEC_WAIT = 5.0


@dataclass
class Container:
    id: str
    sandbox_id: str
    config: ContainerConfig
    created_at: datetime
    log_path: Path
    state: ContainerState = ContainerState.CREATED
    process: ChildProcess | None = None
    # The container's PID namespace, which execs join.
    pid_ns_fd: int | None = None
    started_at: datetime | None = None
    started_mono: float | None = None
    finished_at: datetime | None = None
    finished_mono: float | None = None
    exit_code: int | None = None
    reason: str | None = None
    message: str | None = None
    # Set once the container has exited and its output is in the log: what waiters wait for.
    done: asyncio.Event = field(default_factory=asyncio.Event)
    starting: asyncio.Future[None] | None = None
    monitor: asyncio.Task[None] | None = None
    # Whether a stop with a timeout has sent the stop signal: it goes out once per container.
    stop_signalled: bool = False
    # The user an image container runs as (execs take it too); None: the engine's own.
    ids: Ids | None = None
    # Whether the engine runs in a user namespace that denies setgroups (an unprivileged one with
    # only the user's own id mapped): the container's supplementary groups then stay the
    # engine's, for PID 1 and execs alike.
    rootless: bool = False
    # The environment PID 1 got (the config's, with HOME from the image's passwd): execs get it too.
    env: dict[str, str] = field(default_factory=dict)
    # The file behind the container's terminationMessagePath, read back once it has exited.
    termination_log: Path | None = None

    @property
    def cwd(self) -> str:
        # runc's default when neither the image nor the pod sets a working directory.
        return self.config.working_dir or "/"

    def status(self) -> ContainerStatus:
        return ContainerStatus(
            id=self.id,
            name=self.config.name,
            attempt=self.config.attempt,
            state=self.state,
            created_at=self.created_at,
            started_at=self.started_at,
            finished_at=self.finished_at,
            started_mono=self.started_mono,
            finished_mono=self.finished_mono,
            exit_code=self.exit_code,
            reason=self.reason,
            message=self.message,
            log_path=self.log_path,
            pid=self.process.pid if self.state is ContainerState.RUNNING and self.process else None,
            image=self.config.image,
            # Not in an unprivileged engine: setgroups is denied there, the groups are not these.
            user=(self.ids.uid, self.ids.gid, self.ids.groups)
            if self.ids is not None and not self.rootless
            else None,
        )

    def fail_start(self, clock: Clock, err: StartError) -> None:
        """Record a start failure as containerd does: exited, 128, StartError."""
        self.state = ContainerState.EXITED
        self.exit_code = 128
        self.reason = "StartError"
        self.message = str(err)
        self.finished_mono = clock.now()
        self.finished_at = clock.wall()
        self.done.set()


async def start(
    c: Container,
    sandbox: Sandbox,
    clock: Clock,
    scratch: Path | None,
    etc: EtcFiles | None,
    unshare_path: str,
) -> None:
    """Spawn PID 1 through the mount stage (``mounts.Stage``), from the sandbox's thread.

    ``scratch`` is the container's own directory (made here, removed with the container): the
    overlay's upper and work dirs for an image, staging mounts for a host command. ``etc`` are
    the pod's /etc/hosts, /etc/hostname and /etc/resolv.conf, for an image container.
    """
    nul.refuse_nul(c.config.argv, c.config.env)
    plan, exe, argv = _plan(c, scratch, etc, sandbox.shm_fd)
    c.ids = plan.user
    c.rootless = plan.image is not None and plan.image.rootless and _mapped_ids() == 1
    env = c.config.env
    if plan.user is not None and "HOME" not in env:
        env = {**env, "HOME": plan.user.home}  # runc's default, from the image's passwd
    c.env = env
    c.termination_log = next(
        (Path(m.host_path) for m in plan.files if m.container_path == c.config.termination_message_path), None
    )
    if plan.image is None and not plan.mounts:
        # Nothing to mount but /proc: util-linux's unshare does that, and vfork + two execs
        # cost ~1 ms where the Python stage's fork costs ~3 (page tables, copy-on-write faults).
        stage: Stage | None = None
        spawn: dict[str, Any] = {"args": [unshare_path, "--mount-proc", "--", *argv], "cwd": c.cwd}
    else:
        stage = Stage(plan)
        spawn = {"args": argv, "executable": exe, "preexec_fn": stage}
    loop = asyncio.get_running_loop()
    log = CriLogWriter(c.log_path, clock.wall)
    fds: list[int] = []
    try:
        out_r, out_w = os.pipe()
        fds += (out_r, out_w)
        err_r, err_w = os.pipe()
        fds += (err_r, err_w)
        try:
            popen, pid_ns_fd = await sandbox.thread.spawn(
                spawn.pop("args"),
                PidNamespace(new=True),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out_w,
                stderr=err_w,
                start_new_session=True,
                **spawn,
            )
        except subprocess.SubprocessError as exc:
            message = stage.error() if stage is not None else ""
            raise StartError(f"{lookup.CREATE_PREFIX}{message or exc}: unknown") from exc
    except BaseException:
        for fd in fds:
            os.close(fd)
        log.close()
        raise
    finally:
        if stage is not None:
            stage.close()
    # The child has its copies: ours would keep the pipes open after it exits.
    os.close(out_w)
    os.close(err_w)
    try:
        c.process = ChildProcess(popen, loop)
    except OSError:  # out of fds; the child has been killed
        for fd in (out_r, err_r, *([] if pid_ns_fd is None else [pid_ns_fd])):
            os.close(fd)
        log.close()
        raise
    c.pid_ns_fd = pid_ns_fd
    c.started_mono = clock.now()
    c.started_at = clock.wall()
    c.state = ContainerState.RUNNING
    readers = [
        PipeReader(out_r, loop, lambda data: log.feed("stdout", data)),
        PipeReader(err_r, loop, lambda data: log.feed("stderr", data)),
    ]
    c.monitor = spawn_task(f"runtime container monitor {c.id[:12]}", _monitor(c, log, readers, clock))
    if stage is None:
        await _wait_exec(c, clock, unshare_path, exe)
    # Otherwise Popen has returned after the exec itself (its error pipe closes on exec), so an
    # exec right after the start already sees the container's mounts and its own /proc.


async def _wait_exec(c: Container, clock: Clock, unshare_path: str, exe: str) -> None:
    """Wait until the helper has set up the mount namespace and exec'd the command, so that an
    exec right after the start already sees the container's own /proc."""
    assert c.process is not None
    helper = os.path.realpath(unshare_path)  # noqa: ASYNC240 (a readlink or two, no I/O wait)
    if os.path.realpath(exe) == helper:  # noqa: ASYNC240
        return  # the command is unshare itself: its exec cannot be told from the helper's
    deadline = clock.now() + EXEC_WAIT
    delay = 0.0005
    while not c.process.exited.done() and clock.now() < deadline:
        try:
            if os.readlink(f"/proc/{c.process.pid}/exe") != helper:
                return
        except OSError:
            return
        await clock.sleep(delay)
        delay = min(delay * 2, 0.02)


def _plan(
    c: Container, scratch: Path | None, etc: EtcFiles | None, shm_fd: int | None
) -> tuple[Plan, str, list[str]]:
    config = c.config
    assert scratch is not None or (config.rootfs is None and not config.mounts)
    mounted = [(m.container_path, m.host_path) for m in config.mounts]
    if config.rootfs is None:
        if not mounted:
            lookup.check_working_dir(c.cwd)
        # (With mounts, the working directory may be one: the stage's chdir, after them, says
        # it in the same words if it is missing.) The command is found where the host or a
        # mount will have it, and the same path names it inside the mount namespace.
        exe, argv = lookup.runnable_argv(
            config.argv, config.env, c.cwd, root=locator(None, mounted) if mounted else None
        )
        return Plan(mounts=config.mounts, scratch=str(scratch or ""), cwd=c.cwd), exe, argv
    assert scratch is not None
    lower = str(config.rootfs)
    # runc's lookup, inside the image (its PATH, its symlinks) or a volume mounted in it. The
    # file found is named by its path inside the container, which the exec after pivot_root sees.
    exe, argv = lookup.runnable_argv(config.argv, config.env, c.cwd, root=locator(lower, mounted))
    upper, work, merged = scratch / "upper", scratch / "work", scratch / "merged"
    for d in (upper, work, merged):
        d.mkdir(parents=True)
    files: tuple[Mount, ...] = ()
    if etc is not None:
        files = (
            Mount("/etc/hosts", str(etc.hosts)),
            Mount("/etc/hostname", str(etc.hostname)),
            Mount("/etc/resolv.conf", str(etc.resolv_conf)),
        )
        # containerd's isInCRIMounts: a file the kubelet mounts itself (the pod's resolv.conf,
        # kubelet/dns.py) is not covered by the sandbox's.
        given = {m.container_path for m in config.mounts}
        files = tuple(m for m in files if m.container_path not in given)
    if config.termination_message_path:
        log_file = scratch / "termination-log"
        log_file.touch()
        log_file.chmod(0o666)  # the kubelet's mode: any container user may write its message
        files += (Mount(config.termination_message_path, str(log_file)),)
    rootless = _in_user_namespace()
    user = _user(lower, config)
    mapped = _mapped_ids()
    _check_mapped(user, mapped)
    # devpts gid=5 (tty) needs gid 5 mapped: every id as root, a subordinate range rootless.
    pts_gid = 5 if mapped is None or mapped > 5 else None
    image = ImageRoot(lower, str(upper), str(work), str(merged), rootless=rootless, pts_gid=pts_gid)
    plan = Plan(
        mounts=config.mounts,
        scratch=str(scratch),
        image=image,
        cwd=c.cwd,
        user=user,
        files=files,
        shm_fd=shm_fd,
    )
    return plan, exe, argv


def _in_user_namespace() -> bool:
    # An unprivileged engine is root of a user namespace of its own (bootstrap.py): overlayfs
    # then needs "userxattr" (kernel >= 5.11).
    engine = bootstrap.current()
    return engine is not None and engine.user_namespace


def _mapped_ids() -> int | None:
    """How many ids (0..N-1) the engine's user namespace maps; None: every id (no namespace)."""
    engine = bootstrap.current()
    return engine.mapped_ids if engine is not None and engine.user_namespace else None


def _check_mapped(user: Ids, mapped: int | None) -> None:
    """runc's check (libcontainer setupUser), before setuid or setgroups fails with a bare EINVAL,
    with the way out. With only the user's own id mapped (as 0) setgroups is denied and the
    groups stay as they are, as in runc's rootless mode; with a subordinate range they are set."""
    if mapped is None:
        return
    which = None
    if user.uid >= mapped:
        which = "uid"
    elif user.gid >= mapped or (mapped > 1 and any(g >= mapped for g in user.groups)):
        which = "gid"
    if which is None:
        return
    if mapped == 1:
        why = (
            "hitless runs unprivileged with only your own id mapped, as 0: run it as root, give your "
            "user subordinate ids (/etc/subuid, /etc/subgid and newuidmap, package uidmap), or set "
            "runAsUser: 0 and runAsGroup: 0"
        )
    else:
        why = f"your subordinate ids map 0 to {mapped - 1} in hitless's user namespace"
    raise StartError(
        f"{lookup.CREATE_PREFIX}unable to setup user: cannot set {which} to unmapped user in user "
        f"namespace ({why}): unknown"
    )


def _user(root: str, config: ContainerConfig) -> Ids:
    try:
        return resolve_user(root, config.user, config.supplemental_groups, config.image_groups)
    except UserError as exc:
        raise StartError(f"{lookup.CREATE_PREFIX}{exc}: unknown") from exc


async def _monitor(c: Container, log: CriLogWriter, readers: list[PipeReader], clock: Clock) -> None:
    assert c.process is not None
    try:
        returncode = await c.process.wait()
        finished_mono, finished_at = clock.now(), clock.wall()
        # When PID 1 is gone the kernel has already killed the rest of its PID namespace, so
        # every writer of the pipes is gone: EOF follows promptly.
        await asyncio.gather(*(r.eof for r in readers))
    finally:
        for r in readers:
            r.close()
        log.close()
        if c.pid_ns_fd is not None:
            with contextlib.suppress(OSError):
                os.close(c.pid_ns_fd)
            c.pid_ns_fd = None
    c.exit_code = kubernetes_exit_code(returncode)
    c.reason = "Completed" if c.exit_code == 0 else "Error"
    if c.termination_log is not None:
        c.message = _termination_message(c.termination_log)
    c.finished_mono, c.finished_at = finished_mono, finished_at
    c.state = ContainerState.EXITED
    c.done.set()


# pkg/kubelet/container MaxContainerTerminationMessageLength: what the kubelet reads back.
MAX_TERMINATION_MESSAGE = 4096


def _termination_message(path: Path) -> str | None:
    """What the container wrote to its terminationMessagePath, as the kubelet reads it
    (kuberuntime_container.go getTerminationMessage, tail.ReadAtMost: the last 4096 bytes)."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - MAX_TERMINATION_MESSAGE))
            data = f.read()
    except OSError:
        return None
    return data.decode("utf-8", "replace") or None


async def stop(c: Container, timeout: float, clock: Clock) -> None:
    """Stop signal to PID 1 only, then SIGKILL after ``timeout``; returns once it is all gone.

    Cancelling it leaves the container as it is (signalled or not, never half-killed): a later
    stop starts over. The stop signal goes out once per container, as containerd does it
    (``IsStopSignaledWithTimeout``): the kubelet re-issues a stop when a shorter grace period
    arrives, and many servers take a second SIGTERM as "skip the drain, exit now". The
    re-issued stop brings its own timeout, after which it SIGKILLs.
    """
    if c.starting is not None:
        await asyncio.shield(c.starting)
    if c.process is None:
        return
    if timeout > 0:
        if not c.stop_signalled:
            c.stop_signalled = True
            # The kernel drops the signal if PID 1 has no handler for it: that is the point.
            c.process.send_signal(c.config.stop_signal)
        await _sleep_or_done(c, timeout, clock)
        if c.done.is_set():
            return
    # SIGKILL to PID 1 of a PID namespace takes every process of that namespace with it.
    c.process.kill()
    await c.done.wait()


async def _sleep_or_done(c: Container, timeout: float, clock: Clock) -> None:
    waiter = asyncio.ensure_future(c.done.wait())
    timer = asyncio.ensure_future(clock.sleep(timeout))
    try:
        await asyncio.wait({waiter, timer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        timer.cancel()
