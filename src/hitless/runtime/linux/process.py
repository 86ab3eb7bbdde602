"""A child process watched through a pidfd, and pipes read without threads.

The runtime spawns with :class:`subprocess.Popen` (from the sandbox's thread, so the child
inherits that thread's namespaces) and then watches the child from the event loop: the pidfd
becomes readable when the child exits, and we reap exactly that pid. Nothing here waits for
"any child", so no exit status is ever taken from someone else, and no thread is spent per
child. Signals go through the pidfd too, so a recycled pid can never be hit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Callable


class ChildProcess:
    def __init__(self, popen: subprocess.Popen[bytes], loop: asyncio.AbstractEventLoop) -> None:
        self.popen = popen
        self.pid = popen.pid
        self._loop = loop
        # The child is ours and unreaped, so its pid still names it: opening the pidfd is safe.
        try:
            self._pidfd: int | None = os.pidfd_open(popen.pid)
        except OSError:
            # Out of fds: a child we could neither watch nor signal must not run on unowned.
            popen.kill()
            popen.wait()
            raise
        self.exited: asyncio.Future[int] = loop.create_future()
        loop.add_reader(self._pidfd, self._on_exit)

    def _on_exit(self) -> None:
        returncode = self.popen.poll()
        if returncode is None:
            return
        assert self._pidfd is not None
        self._loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        self._pidfd = None
        if not self.exited.done():
            self.exited.set_result(returncode)

    async def wait(self) -> int:
        """The exit status once the process has exited.

        Shielded: ``exited`` is shared by every waiter, and a cancelled waiter must not cancel
        it for the others (a cancelled stop would otherwise make every later stop raise).
        """
        return await asyncio.shield(self.exited)

    @property
    def returncode(self) -> int | None:
        """Popen's convention: the exit status, or ``-N`` after death by signal N."""
        return self.exited.result() if self.exited.done() else None

    def send_signal(self, sig: int) -> bool:
        """Signal this process only; False when it has already exited."""
        if self._pidfd is None:
            return False
        try:
            signal.pidfd_send_signal(self._pidfd, sig)
        except ProcessLookupError:
            return False
        return True

    def kill(self) -> bool:
        return self.send_signal(signal.SIGKILL)


def kubernetes_exit_code(returncode: int) -> int:
    """Exit status, or 128+N when the process died of signal N, as container runtimes report it."""
    return 128 - returncode if returncode < 0 else returncode


class PipeReader:
    """Reads a pipe from the event loop until EOF, handing each chunk to ``on_data``."""

    def __init__(self, fd: int, loop: asyncio.AbstractEventLoop, on_data: Callable[[bytes], None]) -> None:
        self._fd: int | None = fd
        self._loop = loop
        self._on_data = on_data
        self.eof: asyncio.Future[None] = loop.create_future()
        os.set_blocking(fd, False)
        loop.add_reader(fd, self._readable)

    def _readable(self) -> None:
        assert self._fd is not None
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self._on_data(data)
            return
        self.close()

    def close(self) -> None:
        if self._fd is None:
            return
        self._loop.remove_reader(self._fd)
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self._fd = None
        if not self.eof.done():
            self.eof.set_result(None)
