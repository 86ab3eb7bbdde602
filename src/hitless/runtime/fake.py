"""A scripted runtime on an injected clock, for testing kubelet logic without processes.

Each container runs a :class:`FakeProgram` chosen by a function of its config: when it exits by
itself, what it does on the stop signal (exit after a while, or ignore it as a PID 1 without a
handler does), whether it fails to start. Everything that happens is appended to ``log`` with the
clock time, so tests assert sequences and instants exactly.
"""

from __future__ import annotations

import asyncio
import itertools
import signal as signals
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

from hitless.clock import Clock
from hitless.runtime import cri
from hitless.runtime.network import POD_NETWORK


@dataclass
class FakeProgram:
    # Exit by itself after this many seconds (None: run until stopped).
    exit_after: float | None = None
    exit_code: int = 0
    # On the stop signal: exit after this many seconds with term_exit_code; None ignores it.
    on_stop_signal: float | None = 0.0
    term_exit_code: int = 143
    start_error: str | None = None


@dataclass
class LogEntry:
    time: float
    container: str
    what: str
    detail: object = None


@dataclass
class _Container:
    sandbox: str
    config: cri.ContainerConfig
    status: cri.ContainerStatus
    program: FakeProgram
    exited: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    signalled: bool = False


ExecHandler = Callable[[cri.ContainerConfig, list[str]], Awaitable[cri.ExecResult]]


class FakeRuntime:
    def __init__(
        self,
        clock: Clock,
        programs: Callable[[cri.ContainerConfig], FakeProgram] | None = None,
        exec_handler: ExecHandler | None = None,
    ) -> None:
        self._clock = clock
        self._programs = programs or (lambda config: FakeProgram())
        self._exec = exec_handler
        self._ids = itertools.count(1)
        self._sandboxes: dict[str, cri.PodSandboxStatus] = {}
        self._containers: dict[str, _Container] = {}
        self.log: list[LogEntry] = []
        # What set_sandbox_redirects installed, by sandbox.
        self.redirects: dict[str, list[cri.Redirect]] = {}

    def info(self) -> cri.RuntimeInfo:
        return cri.RuntimeInfo(name="fake", namespaces=False)

    def _record(self, container: str, what: str, detail: object = None) -> None:
        self.log.append(LogEntry(self._clock.now(), container, what, detail))

    def events(self, container: str | None = None, what: str | None = None) -> list[LogEntry]:
        return [
            e
            for e in self.log
            if (container is None or e.container == container) and (what is None or e.what == what)
        ]

    # --- sandboxes ---

    async def run_pod_sandbox(self, config: cri.PodSandboxConfig) -> str:
        sandbox_id = f"sandbox-{next(self._ids)}"
        n = len(self._sandboxes) + 1
        self._sandboxes[sandbox_id] = cri.PodSandboxStatus(
            id=sandbox_id,
            state=cri.SandboxState.READY,
            ip=str(POD_NETWORK.network_address + n),
            created_at=self._clock.wall(),
        )
        return sandbox_id

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        for cid, c in self._containers.items():
            if c.sandbox == sandbox_id and c.status.state is cri.ContainerState.RUNNING:
                await self.stop_container(cid, 0)
        if sandbox_id in self._sandboxes:
            self._sandboxes[sandbox_id].state = cri.SandboxState.NOTREADY

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        if sandbox_id not in self._sandboxes:
            return
        await self.stop_pod_sandbox(sandbox_id)
        for cid in [cid for cid, c in self._containers.items() if c.sandbox == sandbox_id]:
            await self.remove_container(cid)
        del self._sandboxes[sandbox_id]

    def pod_sandbox_status(self, sandbox_id: str) -> cri.PodSandboxStatus:
        return self._sandboxes[sandbox_id]

    # --- containers ---

    async def create_container(self, sandbox_id: str, config: cri.ContainerConfig) -> str:
        cid = f"{config.name}-{next(self._ids)}"
        status = cri.ContainerStatus(
            id=cid,
            name=config.name,
            attempt=config.attempt,
            state=cri.ContainerState.CREATED,
            created_at=self._clock.wall(),
            image=config.image,
        )
        self._containers[cid] = _Container(sandbox_id, config, status, self._programs(config))
        return cid

    async def start_container(self, container_id: str) -> None:
        c = self._containers[container_id]
        now, wall = self._clock.now(), self._clock.wall()
        if c.program.start_error:
            self._finish(c, 128, "StartError", c.program.start_error)
            c.status.started_at = wall
            c.status.started_mono = now
            raise cri.StartError(c.program.start_error)
        c.status.state = cri.ContainerState.RUNNING
        c.status.started_at, c.status.started_mono = wall, now
        self._record(c.config.name, "start", c.config.attempt)
        if c.program.exit_after is not None:
            c.task = asyncio.ensure_future(self._exit_later(c, c.program.exit_after, c.program.exit_code))

    async def _exit_later(self, c: _Container, delay: float, code: int) -> None:
        await self._clock.sleep(delay)
        if c.status.state is cri.ContainerState.RUNNING:
            self._record(c.config.name, "exit", code)
            self._finish(c, code, "Completed" if code == 0 else "Error")

    def _finish(self, c: _Container, code: int, reason: str, message: str | None = None) -> None:
        c.status.state = cri.ContainerState.EXITED
        c.status.exit_code = code
        c.status.reason = reason
        c.status.message = message
        c.status.finished_at = self._clock.wall()
        c.status.finished_mono = self._clock.now()
        c.exited.set()

    async def stop_container(self, container_id: str, timeout: float) -> None:
        c = self._containers[container_id]
        if c.status.state is not cri.ContainerState.RUNNING:
            return
        name = c.config.name
        if timeout > 0:
            if not c.signalled:
                # Once per container, as containerd: a re-issued stop only moves the SIGKILL.
                c.signalled = True
                self._record(name, "signal", signals.Signals(c.config.stop_signal).name)
                delay = c.program.on_stop_signal
                if delay is not None:
                    if c.task is not None:
                        c.task.cancel()
                    c.task = asyncio.ensure_future(self._exit_later(c, delay, c.program.term_exit_code))
            waiter = asyncio.ensure_future(c.exited.wait())
            timer = asyncio.ensure_future(self._clock.sleep(timeout))
            try:
                await asyncio.wait({waiter, timer}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
                timer.cancel()
        if c.status.state is cri.ContainerState.RUNNING:
            self._record(name, "signal", "SIGKILL")
            if c.task is not None:
                c.task.cancel()
            self._finish(c, 137, "Error")

    async def remove_container(self, container_id: str) -> None:
        c = self._containers.get(container_id)
        if c is not None and c.status.state is not cri.ContainerState.RUNNING:
            del self._containers[container_id]

    def container_status(self, container_id: str) -> cri.ContainerStatus:
        return replace(self._containers[container_id].status)

    async def wait_container(self, container_id: str) -> cri.ContainerStatus:
        c = self._containers[container_id]
        await c.exited.wait()
        return replace(c.status)

    async def exec_sync(
        self, container_id: str, argv: list[str], timeout: float | None, output_limit: int = 10240
    ) -> cri.ExecResult:
        c = self._containers[container_id]
        self._record(c.config.name, "exec", argv)
        if self._exec is None:
            return cri.ExecResult(exit_code=0)
        return await self._exec(c.config, argv)

    async def open_connection(
        self, sandbox_id: str, host: str, port: int, timeout: float
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        raise ConnectionRefusedError(f"dial tcp {host}:{port}: connect: connection refused")

    async def sandbox_socket(
        self, sandbox_id: str, family: int = socket.AF_INET, type: int = socket.SOCK_STREAM
    ) -> socket.socket:
        raise OSError("the fake runtime has no network")

    async def set_sandbox_redirects(self, sandbox_id: str, redirects: list[cri.Redirect]) -> None:
        self.redirects[sandbox_id] = list(redirects)

    async def shutdown(self) -> None:
        for c in self._containers.values():
            if c.task is not None:
                c.task.cancel()
