"""``LinuxRuntime``: the :class:`~hitless.runtime.cri.RuntimeService` of real processes."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import resource
import shutil
import socket
import tempfile
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hitless.clock import Clock, RealClock
from hitless.runtime.cri import (
    ContainerConfig,
    ContainerState,
    ContainerStatus,
    ExecResult,
    PodSandboxConfig,
    PodSandboxStatus,
    Redirect,
    RuntimeError_,
    RuntimeInfo,
    SandboxState,
    StartError,
)
from hitless.runtime.linux import bootstrap, container, lookup, nat, procfs
from hitless.runtime.linux.container import Container
from hitless.runtime.linux.etcfiles import EtcFiles, write_etc_files
from hitless.runtime.linux.exec import exec_sync
from hitless.runtime.linux.sandbox import AddressPool, Sandbox, create_sandbox
from hitless.tasks import cancel_and_wait, spawn


@dataclass(frozen=True)
class Tools:
    """The util-linux and coreutils programs the runtime execs (absolute paths)."""

    unshare: str
    nsenter: str
    sleep: str

    @classmethod
    def find(cls) -> Tools:
        found = {name: shutil.which(name) for name in ("unshare", "nsenter", "sleep")}
        missing = [name for name, path in found.items() if path is None]
        if missing:
            raise RuntimeError_(
                f"hitless needs {', '.join(missing)} in PATH (util-linux and coreutils; "
                "e.g. apt-get install util-linux coreutils)"
            )
        return cls(**{name: str(path) for name, path in found.items()})


def raise_open_files_limit() -> None:
    """Lift the soft RLIMIT_NOFILE to the hard one: every pod holds a dozen fds (namespaces,
    pidfds, log pipes, spare sockets), and the usual soft limit of 1024 ends at ~80 pods."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


STATE_PREFIX = "hitless-runtime-"


def remove_abandoned_state_dirs() -> None:
    """The container directories (image containers' upper dirs) of runs that were SIGKILLed: a
    directory whose lock nobody holds any more. Their mounts went with their namespaces."""
    base = Path(tempfile.gettempdir())
    for path in base.glob(STATE_PREFIX + "*"):
        try:
            fd = os.open(path / "lock", os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            continue  # not ours, or being made right now
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # its run is alive
        finally:
            os.close(fd)
        shutil.rmtree(path, ignore_errors=True)


# Sockets made per trip to a sandbox's thread (see sandbox_socket).
SPARE_SOCKETS = 8


class LinuxRuntime:
    def __init__(
        self, clock: Clock | None = None, tools: Tools | None = None, state_dir: Path | None = None
    ) -> None:
        self.clock: Clock = clock or RealClock()
        self.tools = tools or Tools.find()
        # Each container's own directory (overlay upper/work dirs, mount staging) and each pod's
        # /etc files live here; made on first use, removed with what they belong to and at shutdown.
        self._state_dir = state_dir
        self._own_state_dir = state_dir is None
        self._state_lock: int | None = None
        self._etc: dict[str, EtcFiles] = {}
        self._sandboxes: dict[str, Sandbox] = {}
        self._containers: dict[str, Container] = {}
        self._addresses = AddressPool()
        self._watchers: set[asyncio.Task[None]] = set()
        self._shutdown: asyncio.Task[None] | None = None
        raise_open_files_limit()

    def info(self) -> RuntimeInfo:
        capable = procfs.has_cap_sys_admin()
        engine = bootstrap.current()
        notes: list[str] = []
        if not capable:
            notes.append(
                "cannot create namespaces: run hitless as root, or call "
                "hitless.runtime.linux.enter_engine_namespaces() before starting the engine"
            )
        if engine is None:
            notes.append(
                "the engine is not in a PID namespace of its own: its processes would outlive it "
                "if it were SIGKILLed"
            )
        elif engine.user_namespace:
            mapped = engine.mapped_ids or 1
            ids = (
                f"ids 0-{mapped - 1} (the user's own and its subordinate range)"
                if mapped > 1
                else "only the user's own id: an image whose USER is not root cannot run "
                "(give the user /etc/subuid and /etc/subgid ranges)"
            )
            notes.append(f"running as root of a user namespace (unprivileged user) mapping {ids}")
        return RuntimeInfo(name="linux", namespaces=capable, notes=notes)

    # --- sandboxes ---

    def _check_open(self) -> None:
        if self._shutdown is not None:
            raise RuntimeError_("the runtime has been shut down")

    async def run_pod_sandbox(self, config: PodSandboxConfig) -> str:
        self._check_open()
        if not procfs.has_cap_sys_admin():
            raise RuntimeError_(self.info().notes[0])
        sandbox_id = uuid.uuid4().hex
        ip = self._addresses.allocate()
        try:
            sandbox = await create_sandbox(sandbox_id, config, ip, self.tools.sleep, self.clock.wall())
        except BaseException:
            self._addresses.release(ip)
            raise
        self._sandboxes[sandbox_id] = sandbox
        self._watch(self._watch_holder(sandbox))
        return sandbox_id

    def _watch(self, coro: Coroutine[Any, Any, None]) -> None:
        task = spawn("runtime sandbox monitor", coro)
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    async def _watch_holder(self, sandbox: Sandbox) -> None:
        await sandbox.holder.wait()
        # A holder that dies on its own is a sandbox gone bad, as a dead pause container.
        sandbox.state = SandboxState.NOTREADY

    def _sandbox(self, sandbox_id: str) -> Sandbox:
        try:
            return self._sandboxes[sandbox_id]
        except KeyError:
            raise RuntimeError_(f"pod sandbox {sandbox_id!r} not found") from None

    def _ready_sandbox(self, sandbox_id: str) -> Sandbox:
        sandbox = self._sandbox(sandbox_id)
        if sandbox.state is not SandboxState.READY:
            raise RuntimeError_(f"pod sandbox {sandbox_id} is not ready")
        return sandbox

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        sandbox = self._sandboxes.get(sandbox_id)
        if sandbox is None:
            return
        sandbox.state = SandboxState.NOTREADY
        await asyncio.gather(
            *(self.stop_container(cid, 0) for cid in list(sandbox.containers) if cid in self._containers)
        )
        sandbox.holder.kill()
        await sandbox.holder.wait()
        if not sandbox.closed:
            sandbox.close()
            self._addresses.release(sandbox.ip)

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        """CRI RemovePodSandbox: stop it, remove its containers and forget it. Idempotent.

        Without it a long run keeps one small record per pod ever started (the namespaces,
        the thread and the pod IP are released by the stop already).
        """
        sandbox = self._sandboxes.get(sandbox_id)
        if sandbox is None:
            return
        await self.stop_pod_sandbox(sandbox_id)
        for cid in list(sandbox.containers):
            await self.remove_container(cid)
        self._sandboxes.pop(sandbox_id, None)
        if self._etc.pop(sandbox_id, None) is not None:
            shutil.rmtree(self._state() / "pods" / sandbox_id, ignore_errors=True)

    def _state(self) -> Path:
        if self._state_dir is None:
            remove_abandoned_state_dirs()
            self._state_dir = Path(tempfile.mkdtemp(prefix=STATE_PREFIX))
            # Held until this process ends, however it ends: what tells a later run that this
            # directory is abandoned (pids say nothing across PID namespaces).
            self._state_lock = os.open(self._state_dir / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(self._state_lock, fcntl.LOCK_EX)
        return self._state_dir

    def _container_dir(self, container_id: str) -> Path:
        return self._state() / "containers" / container_id

    def _etc_files(self, sandbox: Sandbox) -> EtcFiles:
        if sandbox.id not in self._etc:
            config = sandbox.config
            self._etc[sandbox.id] = write_etc_files(
                self._state() / "pods" / sandbox.id,
                sandbox.ip,
                config.hostname,
                config.host_domain,
                config.host_aliases,
            )
        return self._etc[sandbox.id]

    def pod_sandbox_status(self, sandbox_id: str) -> PodSandboxStatus:
        sandbox = self._sandbox(sandbox_id)
        return PodSandboxStatus(sandbox.id, sandbox.state, sandbox.ip, sandbox.created_at)

    # --- containers ---

    async def create_container(self, sandbox_id: str, config: ContainerConfig) -> str:
        self._check_open()
        sandbox = self._ready_sandbox(sandbox_id)
        container_id = uuid.uuid4().hex
        log_path = sandbox.config.log_directory / config.name / f"{config.attempt}.log"
        self._containers[container_id] = Container(
            container_id, sandbox_id, config, self.clock.wall(), log_path
        )
        sandbox.containers.add(container_id)
        return container_id

    def _container(self, container_id: str) -> Container:
        try:
            return self._containers[container_id]
        except KeyError:
            raise RuntimeError_(f"container {container_id!r} not found") from None

    async def start_container(self, container_id: str) -> None:
        self._check_open()
        c = self._container(container_id)
        if c.state is not ContainerState.CREATED or c.starting is not None:
            raise RuntimeError_(f"container {container_id} is not in created state: {c.state.value}")
        sandbox = self._ready_sandbox(c.sandbox_id)
        c.starting = asyncio.get_running_loop().create_future()
        try:
            # Made by the start only for an image (its overlay's dirs); by the child itself
            # when it needs a staging mount. A host command with no mounts has none (and the
            # run's state directory is made only once something needs it).
            scratch = None
            if c.config.rootfs is not None or c.config.mounts:
                scratch = self._container_dir(container_id)
                shutil.rmtree(scratch, ignore_errors=True)  # a start retried after a cancellation
            etc = self._etc_files(sandbox) if c.config.rootfs is not None else None
            await container.start(c, sandbox, self.clock, scratch, etc, self.tools.unshare)
            if (self._shutdown is not None or sandbox.state is not SandboxState.READY) and c.process:
                # The sandbox was stopped (or the runtime shut down) while we were spawning.
                c.process.kill()
        except StartError as err:
            c.fail_start(self.clock, err)
            raise
        except OSError as exc:
            failure = StartError(f"{lookup.CREATE_PREFIX}{exc}: unknown")
            c.fail_start(self.clock, failure)
            raise failure from exc
        finally:
            c.starting.set_result(None)
            if c.state is ContainerState.CREATED and c.process is None:
                # Cancelled (or the sandbox went away) before anything ran: it may be started again.
                c.starting = None

    async def stop_container(self, container_id: str, timeout: float) -> None:
        await container.stop(self._container(container_id), timeout, self.clock)

    async def remove_container(self, container_id: str) -> None:
        c = self._containers.get(container_id)
        if c is None:
            return
        await container.stop(c, 0, self.clock)
        del self._containers[container_id]
        if self._state_dir is not None and (c.config.rootfs is not None or c.config.mounts):
            if c.config.rootfs is not None:
                # An image container's upper dir can be large: not on the event loop's thread.
                await asyncio.to_thread(shutil.rmtree, self._container_dir(container_id), True)
            else:
                shutil.rmtree(self._container_dir(container_id), ignore_errors=True)
        sandbox = self._sandboxes.get(c.sandbox_id)
        if sandbox is not None:
            sandbox.containers.discard(container_id)

    def container_status(self, container_id: str) -> ContainerStatus:
        return self._container(container_id).status()

    async def wait_container(self, container_id: str) -> ContainerStatus:
        c = self._container(container_id)
        await c.done.wait()
        return c.status()

    async def exec_sync(
        self, container_id: str, argv: list[str], timeout: float | None, output_limit: int = 10240
    ) -> ExecResult:
        c = self._container(container_id)
        sandbox = self._sandbox(c.sandbox_id)
        return await exec_sync(c, sandbox, argv, timeout, output_limit, self.clock, self.tools.nsenter)

    # --- the pod network, as seen from the node ---

    async def sandbox_socket(
        self, sandbox_id: str, family: int = socket.AF_INET, type: int = socket.SOCK_STREAM
    ) -> socket.socket:
        sandbox = self._ready_sandbox(sandbox_id)
        spares = sandbox.spare_sockets.setdefault((family, type), [])
        if not spares:
            # A thread round trip costs more than the socket itself (~200 µs on a busy loop), and
            # a pod is probed several times a second: make a few at once.
            # Non-blocking from birth: no fcntl on the loop's thread for each one taken.
            # Only stream sockets are asked for often (probes, hooks, upstreams); a datagram one
            # is the cluster DNS's, once per pod.
            count = SPARE_SOCKETS if type == socket.SOCK_STREAM else 1
            made = await sandbox.thread.call(
                lambda: [socket.socket(family, type | socket.SOCK_NONBLOCK) for _ in range(count)]
            )
            if sandbox.closed:
                for sock in made:
                    sock.close()
                raise RuntimeError_(f"pod sandbox {sandbox_id} is not ready")
            spares.extend(made)
        return spares.pop()

    async def set_sandbox_redirects(self, sandbox_id: str, redirects: list[Redirect]) -> None:
        await nat.install(self._ready_sandbox(sandbox_id).net_fd, self.tools.nsenter, redirects)

    async def open_connection(
        self, sandbox_id: str, host: str, port: int, timeout: float
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = await self.sandbox_socket(sandbox_id, family)
        connect = asyncio.ensure_future(asyncio.get_running_loop().sock_connect(sock, (host, port)))
        timer = asyncio.ensure_future(self.clock.sleep(timeout))
        try:
            await asyncio.wait({connect, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
        if not connect.done():
            connect.cancel()
            sock.close()
            raise TimeoutError(f"dial tcp {host}:{port}: i/o timeout")
        try:
            connect.result()
        except BaseException:
            sock.close()
            raise
        return await asyncio.open_connection(sock=sock)

    async def shutdown(self) -> None:
        if self._shutdown is None:
            self._shutdown = asyncio.ensure_future(self._shutdown_all())
        await asyncio.shield(self._shutdown)

    async def _shutdown_all(self) -> None:
        for c in self._containers.values():
            if c.process is not None:
                c.process.kill()
        for sandbox in self._sandboxes.values():
            sandbox.holder.kill()
        await asyncio.gather(*(self.stop_pod_sandbox(sid) for sid in list(self._sandboxes)))
        await asyncio.gather(*(c.done.wait() for c in self._containers.values() if c.process is not None))
        await cancel_and_wait(*self._watchers)
        if self._state_dir is not None:
            state = self._state_dir if self._own_state_dir else self._state_dir / "containers"
            await asyncio.to_thread(shutil.rmtree, state, True)
        if self._state_lock is not None:
            os.close(self._state_lock)
            self._state_lock = None
