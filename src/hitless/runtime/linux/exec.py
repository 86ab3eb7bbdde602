"""``ExecSync``: a command run inside a running container, with a timeout that kills its tree.

The exec'd process is spawned by the sandbox's thread after it has joined the container's PID
namespace, so it starts inside the container's network, UTS, IPC and PID namespaces and dies
with the container; ``nsenter --mount`` then moves it into the container's mount namespace
(a thread cannot change mount namespace) so that it sees the container's ``/proc``. It is a
direct child of the engine, so its exit status is its own.

It runs in a session of its own. On timeout every process of that session is SIGKILLed: the
session id survives re-parenting (a backgrounded child whose parent exited is re-parented to
the container's PID 1, out of reach of a process-group kill only if it left the session).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from typing import Any

from hitless.clock import Clock
from hitless.runtime.cri import ContainerState, ExecResult, RuntimeError_
from hitless.runtime.linux import lookup, nul, procfs
from hitless.runtime.linux.container import Container
from hitless.runtime.linux.netns import PidNamespace
from hitless.runtime.linux.process import ChildProcess, PipeReader, kubernetes_exit_code
from hitless.runtime.linux.rootfs import secure_join
from hitless.runtime.linux.sandbox import Sandbox

# After a timeout kill, how long to wait for the pipes to close before giving up on them (a
# process that left the session may still hold them; it dies with the container).
DRAIN_AFTER_KILL = 1.0


class _Capture:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()

    def feed(self, chunk: bytes) -> None:
        room = self.limit - len(self.data)
        if room > 0:
            self.data += chunk[:room]


def kill_session(session: int) -> int:
    """SIGKILL every live process of ``session``; how many were signalled."""
    killed = 0
    for st in procfs.in_session(session):
        try:
            pidfd = os.pidfd_open(st.pid)
        except (ProcessLookupError, OSError):
            continue
        try:
            # Re-check through the pidfd's process: the pid may have been recycled since the scan.
            again = procfs.read_stat(st.pid)
            if again is not None and again.starttime == st.starttime and again.session == session:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                killed += 1
        except ProcessLookupError:
            pass
        finally:
            os.close(pidfd)
    return killed


async def exec_sync(
    c: Container,
    sandbox: Sandbox,
    argv: list[str],
    timeout: float | None,
    output_limit: int,
    clock: Clock,
    nsenter_path: str,
) -> ExecResult:
    if (
        c.state is not ContainerState.RUNNING
        or c.process is None
        or c.process.exited.done()
        or c.pid_ns_fd is None
    ):
        raise RuntimeError_(f"container {c.id} is not in running state")
    pid1 = c.process.pid
    # An image container's exec is looked up in the image, as runc exec does: through PID 1's
    # root (secure_join re-roots the image's symlinks there), so a binary the image lacks fails
    # even when the host has it.
    image_root = f"/proc/{pid1}/root" if c.config.rootfs is not None else None
    nul.refuse_nul(argv, {}, prefix=lookup.EXEC_PREFIX)
    _, argv = lookup.runnable_argv(
        argv, c.env or c.config.env, c.cwd, prefix=lookup.EXEC_PREFIX, root=image_root
    )
    # runc exec runs as the process spec's user: uid, gid and supplementary groups. nsenter's
    # --setgid would drop the supplementary groups (setgroups(0, NULL)), so the child takes the
    # groups and gid before it execs nsenter, still root (setns needs CAP_SYS_ADMIN), and
    # nsenter's --setuid alone keeps them. In a user namespace that denies setgroups (an
    # unprivileged engine) the groups stay as they are, as for PID 1 (mounts.Stage).
    user: list[str] = []
    ids: dict[str, Any] = {}
    if c.ids is not None:
        user = [f"--setuid={c.ids.uid}"]
        ids["group"] = c.ids.gid
        if not c.rootless:
            ids["extra_groups"] = list(c.ids.groups)
    pid_ns_fd = c.pid_ns_fd

    loop = asyncio.get_running_loop()
    fds: list[int] = []
    try:
        out_r, out_w = os.pipe()
        fds += (out_r, out_w)
        err_r, err_w = os.pipe()
        fds += (err_r, err_w)
        popen, _ = await sandbox.thread.spawn(
            [
                nsenter_path,
                # The exec starts inside PID 1's PID namespace: if PID 1 is gone, its fork
                # fails (or the kernel kills it with the namespace), so /proc/<pid1> cannot
                # name a recycled pid by the time nsenter opens it. The working directory is
                # opened through PID 1's root so that it is a path of the container's mount
                # namespace once nsenter has entered it.
                f"--mount=/proc/{pid1}/ns/mnt",
                f"--wd={secure_join(f'/proc/{pid1}/root', c.cwd)}",
                *user,
                "--",
                *argv,
            ],
            PidNamespace(join_fd=pid_ns_fd),
            env=c.env or c.config.env,
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=out_w,
            stderr=err_w,
            start_new_session=True,
            **ids,
        )
    except BaseException as exc:
        for fd in fds:
            os.close(fd)
        if isinstance(exc, OSError):
            # fork fails with ENOMEM once PID 1 is dead: the container is exiting.
            raise RuntimeError_(f"cannot exec in container {c.id}: {exc}") from exc
        raise
    os.close(out_w)
    os.close(err_w)

    try:
        proc = ChildProcess(popen, loop)
    except OSError:  # out of fds; the child has been killed
        os.close(out_r)
        os.close(err_r)
        raise
    stdout, stderr = _Capture(output_limit), _Capture(output_limit)
    readers = [PipeReader(out_r, loop, stdout.feed), PipeReader(err_r, loop, stderr.feed)]
    finished: asyncio.Future[Any] = asyncio.ensure_future(
        asyncio.gather(proc.exited, *(r.eof for r in readers))
    )
    timed_out = False
    try:
        if timeout is None:
            await asyncio.shield(finished)
        else:
            timer: asyncio.Future[Any] = asyncio.ensure_future(clock.sleep(timeout))
            try:
                await asyncio.wait({finished, timer}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                timer.cancel()
            timed_out = not finished.done()
    finally:
        if not finished.done():
            # Timed out, or the caller gave up on us: nothing of this exec may keep running.
            # The clean-up is a task of its own so that a second cancellation (the caller's
            # caller giving up too) cannot cut it short and leave processes or fds behind.
            cleanup = asyncio.ensure_future(_kill_exec(proc, popen.pid, readers, finished, clock))
            _cleanups.add(cleanup)
            cleanup.add_done_callback(_cleanups.discard)
            await asyncio.shield(cleanup)
    returncode = proc.returncode
    assert returncode is not None
    # CRI ExecSync returns the two streams apart; the kubelet appends stderr to stdout and keeps
    # the first 10 KiB of that (probe/exec maxReadLength): one limit over both, stdout first.
    out = bytes(stdout.data) + bytes(stderr.data[: max(0, output_limit - len(stdout.data))])
    return ExecResult(exit_code=kubernetes_exit_code(returncode), output=out, timed_out=timed_out)


# Clean-ups still running after their exec_sync was cancelled (the loop holds tasks weakly).
_cleanups: set[asyncio.Future[None]] = set()


async def _kill_exec(
    proc: ChildProcess, session: int, readers: list[PipeReader], finished: asyncio.Future[Any], clock: Clock
) -> None:
    proc.kill()
    # Repeat: a process of the session may have forked between the scan and the kill.
    for _ in range(10):
        if not kill_session(session):
            break
    await proc.wait()
    drain: asyncio.Future[Any] = asyncio.ensure_future(clock.sleep(DRAIN_AFTER_KILL))
    await asyncio.wait({finished, drain}, return_when=asyncio.FIRST_COMPLETED)
    drain.cancel()
    for r in readers:
        r.close()
    finished.cancel()
