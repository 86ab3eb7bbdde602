"""Starting ``hitless init`` (bare or as PID 1 of a fresh PID namespace) and watching its processes."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

HITLESS = str(Path(sys.executable).parent / "hitless")
UNSHARE = shutil.which("unshare")
# --kill-child: when unshare dies (the teardown SIGKILLs it) its child, the namespace's PID 1,
# gets SIGKILL and the kernel takes the whole namespace with it.
PIDNS = [UNSHARE or "unshare", "--pid", "--fork", "--kill-child", "--mount-proc"]

# A child that cleans up on SIGTERM: worker.sh NAME OUT [CLEANUP_SECONDS] [EXIT_CODE]
WORKER = """\
name=$1; out=$2; dur=${3:-0.3}; code=${4:-0}
cleanup() {
    echo "$name got SIGTERM" >> "$out"
    sleep "$dur"
    echo "$name clean shutdown done" >> "$out"
    exit "$code"
}
trap cleanup TERM
echo "$name ready" >> "$out"
while :; do sleep 0.05; done
"""

# A descendant that ignores SIGTERM (its sleeps inherit the ignore): ignorer.sh OUT
IGNORER = """\
trap '' TERM
echo "ignorer ready" >> "$1"
while :; do sleep 0.05; done
"""


def stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat from the state field on (index 0 state, 1 ppid, 2 pgrp, 5 tpgid)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def children_of(pid: int) -> list[int]:
    # /proc/<pid>/task/<tid>/children is not available on every kernel: scan for the ppid.
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = stat_fields(int(entry))
            if fields is not None and int(fields[1]) == pid:
                found.append(int(entry))
    return found


def descendants_of(pid: int) -> list[int]:
    found: list[int] = []
    frontier = [pid]
    while frontier:
        kids = children_of(frontier.pop())
        found.extend(kids)
        frontier.extend(kids)
    return found


def alive(pid: int) -> bool:
    fields = stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def wait_until(predicate: Callable[[], object], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def _default_signals(then: Callable[[], object] | None) -> Callable[[], None]:
    """In the child before exec: every signal's disposition at its default and none blocked.

    A pytest started with SIGHUP ignored (nohup, some CI runners) would pass the ignore on, and a
    non-interactive ``sh`` cannot trap a signal ignored on entry (POSIX): the tests' children
    start as a container's PID 1 starts on a node, from the kernel's defaults.
    """

    def reset() -> None:
        for sig in signal.valid_signals():
            if sig not in (signal.SIGKILL, signal.SIGSTOP):
                with contextlib.suppress(OSError, ValueError):
                    signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        if then is not None:
            then()

    return reset


class Proc:
    """A started command, its output in files (pipes could fill up and stall it)."""

    def __init__(
        self,
        argv: list[str],
        tmp: Path,
        pidns: bool,
        env: dict[str, str] | None = None,
        stdin: int = subprocess.DEVNULL,
        start_new_session: bool = True,
        preexec_fn: Callable[[], object] | None = None,
    ) -> None:
        self.pidns = pidns
        self.tmp = tmp
        self.stdout_path = tmp / f"stdout.{id(self)}"
        self.stderr_path = tmp / f"stderr.{id(self)}"
        full_env = dict(os.environ, **(env or {}))
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.popen: subprocess.Popen[bytes] = subprocess.Popen(
                [*PIDNS, *argv] if pidns else argv,
                stdout=out,
                stderr=err,
                env=full_env,
                stdin=stdin,
                # Its own session: signals meant for it must not reach pytest.
                start_new_session=start_new_session,
                preexec_fn=_default_signals(preexec_fn),
            )
        self.started = time.monotonic()
        self._inner: int | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def inner(self) -> int:
        """The pid (as seen from here) of the command itself: unshare's child in a namespace."""
        if not self.pidns:
            return self.popen.pid
        if self._inner is None:
            wait_until(lambda: children_of(self.popen.pid), what="unshare's child")
            self._inner = children_of(self.popen.pid)[0]
        return self._inner

    def signal(self, sig: int) -> None:
        os.kill(self.inner(), sig)

    def wait(self, timeout: float = 10.0) -> int:
        return self.popen.wait(timeout=timeout)

    def running(self) -> bool:
        return self.popen.poll() is None

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def events(self, name: str | None = None) -> list[dict[str, str]]:
        """The logfmt events of -v, as dicts (values unquoted, good enough for these tests)."""
        found = []
        for line in self.stderr.splitlines():
            if "logger=hitless-init" not in line:
                continue
            fields = parse_logfmt(line)
            if name is None or fields.get("event") == name:
                found.append(fields)
        return found

    def kill(self) -> None:
        """Teardown: SIGKILL what is left, by PID, whatever the test did."""
        if self.popen.poll() is None:
            if self.pidns:
                os.kill(self.popen.pid, signal.SIGKILL)  # --kill-child takes the namespace down
            else:
                for pid in reversed(descendants_of(self.popen.pid)):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                self.popen.kill()
        self.popen.wait(timeout=10)


def parse_logfmt(line: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    i = 0
    while i < len(line):
        while i < len(line) and line[i] == " ":
            i += 1
        eq = line.find("=", i)
        if eq < 0:
            break
        key = line[i:eq]
        i = eq + 1
        if i < len(line) and line[i] == '"':
            i += 1
            value = []
            while i < len(line) and line[i] != '"':
                if line[i] == "\\" and i + 1 < len(line):
                    i += 1
                    value.append({"n": "\n", "t": "\t"}.get(line[i], line[i]))
                else:
                    value.append(line[i])
                i += 1
            i += 1
            fields[key] = "".join(value)
        else:
            end = line.find(" ", i)
            end = len(line) if end < 0 else end
            fields[key] = line[i:end]
            i = end
    return fields


def lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []
