"""The app's child processes: started at launch, sent SIGTERM and awaited when the app exits."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

from hitless.demo.log import log

CHILD_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "child.py")


def _describe(returncode: int) -> str:
    return f"killed by signal {-returncode}" if returncode < 0 else f"exited with code {returncode}"


class Children:
    def __init__(self, count: int, cleanup: float, origin: float) -> None:
        self._count = count
        self._cleanup = cleanup
        self._origin = origin
        self._procs: list[subprocess.Popen[bytes]] = []
        self._exited: list[asyncio.Future[int]] = []
        self._stopping = False

    def __len__(self) -> int:
        return len(self._procs)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        for index in range(self._count):
            proc = subprocess.Popen(
                # -S: no site-packages; the child needs only the standard library and starts faster.
                [
                    sys.executable,
                    "-S",
                    CHILD_SCRIPT,
                    str(index),
                    str(self._cleanup),
                    str(os.getpid()),
                    repr(self._origin),
                ],
                stdin=subprocess.DEVNULL,
            )
            exited: asyncio.Future[int] = loop.create_future()
            self._procs.append(proc)
            self._exited.append(exited)
            log(f"started child {index} (pid {proc.pid})")
            try:
                # A pidfd becomes readable when the process exits: the loop learns of it without a
                # thread per child (asyncio's default child watcher) and without polling.
                pidfd = os.pidfd_open(proc.pid)
            except OSError:
                # Linux < 5.3, or a seccomp profile that filters pidfd_open.
                self._poll(index, proc, exited)
            else:
                loop.add_reader(pidfd, self._on_pidfd, index, proc, pidfd, exited)

    def _on_pidfd(
        self, index: int, proc: subprocess.Popen[bytes], pidfd: int, exited: asyncio.Future[int]
    ) -> None:
        if proc.poll() is None:
            return
        asyncio.get_running_loop().remove_reader(pidfd)
        os.close(pidfd)
        self._reaped(index, proc, exited)

    def _poll(self, index: int, proc: subprocess.Popen[bytes], exited: asyncio.Future[int]) -> None:
        if proc.poll() is None:
            asyncio.get_running_loop().call_later(0.1, self._poll, index, proc, exited)
        else:
            self._reaped(index, proc, exited)

    def _reaped(self, index: int, proc: subprocess.Popen[bytes], exited: asyncio.Future[int]) -> None:
        returncode = proc.returncode
        note = "" if self._stopping else " (unexpectedly)"
        log(f"child {index} (pid {proc.pid}) {_describe(returncode)}{note}")
        if not exited.done():
            exited.set_result(returncode)

    async def stop(self) -> None:
        """Forward SIGTERM to every live child and wait for all of them to exit.

        There is no timeout of our own: the kubelet's grace period bounds the whole shutdown, as it
        would for a real app waiting for its workers.
        """
        self._stopping = True
        for index, (proc, exited) in enumerate(zip(self._procs, self._exited, strict=True)):
            if not exited.done():
                log(f"sending SIGTERM to child {index} (pid {proc.pid})")
                proc.send_signal(signal.SIGTERM)
        pending = [f for f in self._exited if not f.done()]
        if pending:
            log(f"waiting for {len(pending)} child(ren) to exit")
            await asyncio.gather(*pending)
