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

    def close(self) -> None:
        """Release the namespaces and the thread; only once (the fd numbers get reused)."""
        if self.closed:
            return
        self.closed = True
        for spares in self.spare_sockets.values():
            for sock in spares:
                sock.close()
        self.spare_sockets.clear()
        for fd in (self.net_fd, self.uts_fd, self.ipc_fd):
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
    return Sandbox(sandbox_id, config, ip, created_at, thread, net_fd, uts_fd, ipc_fd, holder)


def _close_fds(job: asyncio.Future[tuple[int, int, int]]) -> None:
    if not job.cancelled() and job.exception() is None:
        for fd in job.result():
            os.close(fd)
