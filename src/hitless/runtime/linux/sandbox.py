"""Pod sandboxes: the pod's network, UTS and IPC namespaces, a holder process, and the pod IP."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import socket
import subprocess
from dataclasses import dataclass, field
from datetime import datetime

from hitless.runtime.cri import PodSandboxConfig, RuntimeError_, SandboxState
from hitless.runtime.linux import syscalls
from hitless.runtime.linux.netns import PidNamespace, SandboxThread
from hitless.runtime.linux.process import ChildProcess
from hitless.runtime.network import POD_NETWORK


class AddressPool:
    """Pod IPs in 127.244.0.0/16, handed out round-robin so that a freed address is reused as
    late as possible (a proxy may still hold the old endpoint for a while, as on a cluster)."""

    def __init__(self, network: ipaddress.IPv4Network = POD_NETWORK) -> None:
        self._network = network
        self._size = network.num_addresses
        self._next = 1
        self._used: set[int] = set()

    def allocate(self) -> str:
        for _ in range(self._size):
            offset, self._next = self._next, self._next % (self._size - 2) + 1
            if offset not in self._used:
                self._used.add(offset)
                return str(self._network.network_address + offset)
        raise RuntimeError_(f"no free pod address left in {self._network}")

    def release(self, address: str) -> None:
        self._used.discard(int(ipaddress.IPv4Address(address)) - int(self._network.network_address))


@dataclass
class Sandbox:
    id: str
    config: PodSandboxConfig
    ip: str
    created_at: datetime
    thread: SandboxThread
    # Our own references to the namespaces: they keep them alive and name them unambiguously,
    # whatever happens to the holder's pid.
    net_fd: int
    uts_fd: int
    ipc_fd: int
    holder: ChildProcess
    state: SandboxState = SandboxState.READY
    containers: set[str] = field(default_factory=set)
    closed: bool = False
    # Sockets made ahead in the pod's network namespace, by (family, type): a probe takes one
    # instead of waiting for a round trip to the sandbox's thread.
    spare_sockets: dict[tuple[int, int], list[socket.socket]] = field(default_factory=dict)
    # The pod's /dev/shm: a tmpfs mounted nowhere (a detached mount), of which every image
    # container of the pod attaches a copy, as containerd mounts one per sandbox and binds it
    # into each container; None where the kernel cannot (each container gets its own then).
    shm_fd: int | None = None

    def close(self) -> None:
        """Release the namespaces and the thread; only once (the fd numbers get reused)."""
        if self.closed:
            return
        self.closed = True
        for spares in self.spare_sockets.values():
            for sock in spares:
                sock.close()
        self.spare_sockets.clear()
        for fd in (self.net_fd, self.uts_fd, self.ipc_fd, self.shm_fd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.thread.stop()


async def create_sandbox(
    sandbox_id: str, config: PodSandboxConfig, ip: str, sleep_path: str, created_at: datetime
) -> Sandbox:
    thread = SandboxThread(sandbox_id[:12])
    job = asyncio.ensure_future(thread.call(lambda: thread.enter_new_namespaces(config.hostname)))
    try:
        net_fd, uts_fd, ipc_fd = await asyncio.shield(job)
    except BaseException as exc:
        thread.stop()
        if isinstance(exc, asyncio.CancelledError):
            job.add_done_callback(_close_fds)
        if isinstance(exc, OSError):
            pod = f"{config.namespace}/{config.name}"
            raise RuntimeError_(f"cannot create the namespaces of pod {pod}: {exc}") from exc
        raise

    try:
        # Like the pause container: it only gives the pod's namespaces a process, visible to
        # ps/lsns/nsenter for debugging. The namespaces themselves are held by the fds above.
        popen, _ = await thread.spawn(
            [sleep_path, "infinity"],
            PidNamespace(),
            env={},
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except BaseException as exc:
        for fd in (net_fd, uts_fd, ipc_fd):
            os.close(fd)
        thread.stop()
        if isinstance(exc, OSError):
            raise RuntimeError_(f"cannot start the sandbox holder ({sleep_path}): {exc}") from exc
        raise
    holder = ChildProcess(popen, asyncio.get_running_loop())
    return Sandbox(
        sandbox_id, config, ip, created_at, thread, net_fd, uts_fd, ipc_fd, holder, shm_fd=pod_shm()
    )


# containerd's sandbox /dev/shm (internal/cri/server/podsandbox/sandbox_run_linux.go, with
# defaultShmSize 64 MiB): a tmpfs, mode 1777, nosuid, nodev, noexec.
SHM_OPTIONS = {"source": "shm", "mode": "1777", "size": str(64 * 1024 * 1024)}


def pod_shm() -> int | None:
    """The pod's /dev/shm as a detached mount: held by the sandbox, mounted in no namespace
    (nothing to unmount, nothing left behind), freed with the sandbox's fd and the last
    container that attached it. None where the new mount API is missing (Linux < 5.2)."""
    attrs = syscalls.MOUNT_ATTR_NOSUID | syscalls.MOUNT_ATTR_NODEV | syscalls.MOUNT_ATTR_NOEXEC
    try:
        return syscalls.detached_mount("tmpfs", SHM_OPTIONS, attrs)
    except OSError:
        return None


def _close_fds(job: asyncio.Future[tuple[int, int, int]]) -> None:
    if not job.cancelled() and job.exception() is None:
        for fd in job.result():
            os.close(fd)
