"""One thread per sandbox, parked inside the sandbox's network, UTS and IPC namespaces.

Namespaces belong to threads, and a socket belongs to the network namespace of the thread that
created it, for its whole life. So a thread that lives in the pod's namespaces can create
sockets that reach the pod's ``127.x`` addresses and ports, and can spawn processes that start
out in the pod's namespaces, while the event loop thread stays in the engine's.

Why a thread per sandbox rather than one thread that enters a sandbox and comes back: as a
normal user the engine runs in a user namespace of its own, and ``setns`` back into the
machine's network namespace needs CAP_SYS_ADMIN over it, which the engine does not have. A
thread can enter a pod's network namespace but never leave it. The PID namespace is the
exception: the engine owns its own one, so a thread can return to it, and that is what
:meth:`SandboxThread.spawn` relies on to start a container's PID 1 in a fresh PID namespace.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fcntl
import os
import queue
import socket
import struct
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from hitless.runtime.cri import RuntimeError_
from hitless.runtime.linux import syscalls

T = TypeVar("T")

_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_IFREQ = "16sh22x"  # struct ifreq: the name, then the flags at the start of the 24-byte union


@dataclass
class PidNamespace:
    """Where a spawned process goes: a new PID namespace (it becomes PID 1) or an existing one."""

    new: bool = False
    join_fd: int | None = None


def bring_loopback_up() -> None:
    """``ip link set lo up`` without ``ip``: in a fresh network namespace lo exists but is down."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack(_IFREQ, b"lo", 0)
        flags = struct.unpack(_IFREQ, fcntl.ioctl(s, _SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack(_IFREQ, b"lo", flags | _IFF_UP))


class SandboxThread:
    """A worker thread that creates new network/UTS/IPC namespaces and stays in them."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], concurrent.futures.Future[Any]] | None] = (
            queue.SimpleQueue()
        )
        self._broken: str | None = None
        self._stopped = False
        self._home_pid_ns = -1
        self._thread = threading.Thread(target=self._run, name=f"hitless-sandbox-{name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, fut = job
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn())
            except BaseException as exc:
                fut.set_exception(exc)
        if self._home_pid_ns >= 0:
            os.close(self._home_pid_ns)

    async def call(self, fn: Callable[[], T]) -> T:
        if self._broken is not None:
            raise RuntimeError_(self._broken)
        if self._stopped:
            raise RuntimeError_("the pod sandbox is stopped")
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._jobs.put((fn, fut))
        return await asyncio.wrap_future(fut)

    def stop(self) -> None:
        """Let the thread end once the jobs already queued are done (they still run)."""
        if not self._stopped:
            self._stopped = True
            self._jobs.put(None)

    # --- run on the thread ---

    def enter_new_namespaces(self, hostname: str) -> tuple[int, int, int]:
        """Move this thread into new net/UTS/IPC namespaces; fds on them (net, uts, ipc)."""
        self._home_pid_ns = syscalls.open_ns("/proc/thread-self/ns/pid")
        syscalls.unshare(syscalls.CLONE_NEWNET | syscalls.CLONE_NEWUTS | syscalls.CLONE_NEWIPC)
        bring_loopback_up()
        socket.sethostname(hostname)
        return (
            syscalls.open_ns("/proc/thread-self/ns/net"),
            syscalls.open_ns("/proc/thread-self/ns/uts"),
            syscalls.open_ns("/proc/thread-self/ns/ipc"),
        )

    async def spawn(
        self, argv: list[str], pid_ns: PidNamespace, **popen: Any
    ) -> tuple[subprocess.Popen[bytes], int | None]:
        """Popen from inside the sandbox; with ``pid_ns.new`` the child is PID 1 of a new PID
        namespace and an fd on that namespace is returned too (for later execs to join it)."""
        job = asyncio.ensure_future(self.call(lambda: self._spawn_here(argv, pid_ns, **popen)))
        try:
            return await asyncio.shield(job)
        except asyncio.CancelledError:
            # The thread spawns anyway: whatever it starts must not be left running unowned.
            job.add_done_callback(_discard_spawned)
            raise

    def _spawn_here(
        self, argv: list[str], pid_ns: PidNamespace, **popen: Any
    ) -> tuple[subprocess.Popen[bytes], int | None]:
        moved = pid_ns.new or pid_ns.join_fd is not None
        if pid_ns.new:
            # Affects only this thread's *future children*: the next fork becomes PID 1.
            syscalls.unshare(syscalls.CLONE_NEWPID)
        elif pid_ns.join_fd is not None:
            syscalls.setns(pid_ns.join_fd, syscalls.CLONE_NEWPID)
        try:
            proc: subprocess.Popen[bytes] = subprocess.Popen(argv, **popen)
        except BaseException:
            if moved:
                self._restore_pid_ns()
            raise
        new_ns_fd: int | None = None
        try:
            if pid_ns.new:
                # Only openable once the namespace has a process; the thread still refers to it,
                # even if that process has already exited.
                new_ns_fd = syscalls.open_ns("/proc/thread-self/ns/pid_for_children")
        finally:
            if moved:
                try:
                    self._restore_pid_ns()
                except RuntimeError_:
                    proc.kill()
                    proc.wait()
                    if new_ns_fd is not None:
                        os.close(new_ns_fd)
                    raise
        return proc, new_ns_fd

    def _restore_pid_ns(self) -> None:
        try:
            syscalls.setns(self._home_pid_ns, syscalls.CLONE_NEWPID)
        except OSError as exc:
            # Later children of this thread would land in a container's PID namespace: refuse.
            self._broken = f"sandbox thread cannot return to the engine's PID namespace: {exc}"
            raise RuntimeError_(self._broken) from exc


def _discard_spawned(job: asyncio.Future[tuple[subprocess.Popen[bytes], int | None]]) -> None:
    if job.cancelled() or job.exception() is not None:
        return
    proc, ns_fd = job.result()
    proc.kill()
    proc.wait()  # just SIGKILLed: immediate
    if ns_fd is not None:
        os.close(ns_fd)
