"""Runtime faults of a real ``hitless up``: a failed component, Ctrl-C during start-up, SIGKILL."""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hitless.cli.logdirs import PREFIX, clean_stale, make_run_log_dir, remove_run_log_dir
from tests.e2e.test_cli import descendants, still_alive

MANIFEST = """
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    command: [sh, -c, "trap 'exit 0' TERM; sleep 1000 & wait"]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 8080}]
"""

# `hitless up` with one fault injected into a real component, as a bug would strike mid-run.
PRELUDE = "import sys\n"
MAIN = "from hitless.cli.main import main\nraise SystemExit(main(sys.argv[1:]))\n"
INJECTIONS = {
    # The EndpointSlice controller's sync raises once a pod runs.
    "endpointslice-controller": """
from hitless.controllers.endpointslice import EndpointSliceController
sync = EndpointSliceController.sync_service
def faulty(self, namespace, name):
    if any(p.status.phase == "Running" for p in self._store.pods()):
        raise RuntimeError("injected fault")
    sync(self, namespace, name)
EndpointSliceController.sync_service = faulty
""",
    # The runtime's monitor of a container raises once it has seen the container exit (the
    # `once` pod's container exits at once).
    r"runtime container monitor [0-9a-f]{12}": """
from hitless.runtime.linux import container
monitor = container._monitor
async def faulty(c, *args):
    await monitor(c, *args)
    if c.config.name == "once":
        raise RuntimeError("injected fault")
container._monitor = faulty
""",
    # The runtime's monitor of a pod sandbox's holder process raises as it starts watching.
    "runtime sandbox monitor": """
from hitless.runtime.linux.runtime import LinuxRuntime
async def faulty(self, sandbox):
    raise RuntimeError("injected fault")
LinuxRuntime._watch_holder = faulty
""",
    # The watch of the manifest files fails as soon as it starts.
    "reapply watcher": """
import hitless.cli.up
async def faulty(*args, **kwargs):
    raise RuntimeError("injected fault")
hitless.cli.up.watch_and_reapply = faulty
""",
}
ONCE = """---
apiVersion: v1
kind: Pod
metadata: {name: once}
spec:
  restartPolicy: Never
  containers:
  - name: once
    image: busybox
    command: [sh, -c, "sleep 0.5"]
"""


class Run:
    """A ``hitless up -o jsonl`` subprocess whose stdout and stderr are read line by line."""

    def __init__(self, tmp_path: Path, argv: list[str], from_stdin: bool = False, extra: str = "") -> None:
        (tmp_path / "tmp").mkdir(exist_ok=True)
        self.tmp = tmp_path / "tmp"
        path = tmp_path / "web.yaml"
        path.write_text(MANIFEST + extra)
        env = {**os.environ, "TMPDIR": str(self.tmp), "XDG_STATE_HOME": str(tmp_path / "state")}
        self.proc = subprocess.Popen(
            [*argv, "up", "-" if from_stdin else str(path), "-o", "jsonl"],
            stdin=subprocess.PIPE if from_stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.out: list[dict[str, object]] = []
        self.err: list[str] = []
        self._partial = {"out": b"", "err": b""}

    def read_until(self, seen: Callable[[], bool], timeout: float = 30, or_exit: bool = False) -> None:
        """Read both pipes (raw: a buffered reader would hide lines from select) until ``seen``."""
        assert self.proc.stdout is not None and self.proc.stderr is not None
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout.fileno(), selectors.EVENT_READ, "out")
        sel.register(self.proc.stderr.fileno(), selectors.EVENT_READ, "err")
        deadline = time.monotonic() + timeout
        try:
            while not seen():
                assert time.monotonic() < deadline, f"not seen in {timeout}s; stderr: {self.err}"
                for key, _ in sel.select(timeout=deadline - time.monotonic()):
                    fd = int(key.fd)
                    data = os.read(fd, 65536)
                    if not data:
                        sel.unregister(fd)
                        if not sel.get_map():
                            assert or_exit, f"exited {self.proc.wait()}; stderr: {self.err}"
                            return
                        continue
                    self._partial[key.data] += data
                    *lines, self._partial[key.data] = self._partial[key.data].split(b"\n")
                    for line in lines:
                        if key.data == "out":
                            self.out.append(json.loads(line))
                        else:
                            self.err.append(line.decode() + "\n")
        finally:
            sel.close()

    def finish(self, timeout: float = 30) -> tuple[int, str]:
        out, err = self.proc.communicate(timeout=timeout)
        self.out += [json.loads(line) for line in (self._partial["out"].decode() + out).splitlines()]
        self.err.append(self._partial["err"].decode() + err)
        return self.proc.returncode, "".join(self.err)

    def pod_running(self) -> bool:
        pods = [o for o in self.out if o.get("kind") == "Pod"]
        return any((o.get("status") or {}).get("phase") == "Running" for o in pods)  # type: ignore[union-attr]


@pytest.fixture
def runs() -> Iterator[list[Run]]:
    started: list[Run] = []
    yield started
    for run in started:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()


HITLESS = [sys.executable, "-m", "hitless"]


@pytest.mark.parametrize("component", list(INJECTIONS))
def test_a_component_failure_stops_a_real_run_with_exit_3(
    tmp_path: Path, runs: list[Run], component: str
) -> None:
    run = Run(tmp_path, [sys.executable, "-c", PRELUDE + INJECTIONS[component] + MAIN], extra=ONCE)
    runs.append(run)
    run.read_until(run.pod_running, or_exit=True)
    procs = descendants(run.proc.pid)
    code, err = run.finish()
    assert code == 3, err
    failed = re.search(r"internal error in (.+): RuntimeError: injected fault", err)
    assert failed is not None and re.fullmatch(component, failed.group(1)), err
    assert "Traceback" not in err
    written = next(line for line in err.splitlines() if "the traceback is in" in line).split()[-1]
    assert Path(written).parent == tmp_path / "state" / "hitless"
    assert "injected fault" in Path(written).read_text()
    # Stopped as on Ctrl-C: every pod deleted, nothing outlived the run, no log directory left.
    deleted = {
        o["metadata"]["name"]
        for o in run.out
        if o.get("kind") == "Pod" and o["metadata"].get("deletionTimestamp")
    }  # type: ignore[index]
    assert deleted == {"web", "once"}, err
    assert still_alive(procs) == set()
    assert list(run.tmp.iterdir()) == []


@pytest.mark.parametrize("point", ["pod-created", "banner", "container-started"])
def test_ctrl_c_during_start_up_stops_cleanly(tmp_path: Path, runs: list[Run], point: str) -> None:
    run = Run(tmp_path, HITLESS)
    runs.append(run)
    if point == "pod-created":
        run.read_until(lambda: any(o.get("kind") == "Pod" for o in run.out))
    elif point == "banner":
        run.read_until(lambda: any("Ctrl-C to stop" in line for line in run.err))
    else:
        run.read_until(lambda: any(o.get("reason") == "Started" for o in run.out))
    procs = descendants(run.proc.pid)
    run.proc.send_signal(signal.SIGINT)
    code, err = run.finish()
    assert code == 0, err
    assert "Traceback" not in err
    assert still_alive(procs) == set()
    assert list(run.tmp.iterdir()) == []


READ_SYSCALL = {"x86_64": 0, "aarch64": 63}.get(os.uname().machine)


@pytest.mark.skipif(READ_SYSCALL is None, reason="read(2)'s number on this architecture")
def test_ctrl_c_while_loading_stops_without_a_traceback(tmp_path: Path, runs: list[Run]) -> None:
    run = Run(tmp_path, HITLESS, from_stdin=True)
    runs.append(run)
    # Blocked reading the manifest from stdin: read(0, ...) in /proc/PID/syscall.
    syscall = Path(f"/proc/{run.proc.pid}/syscall")
    deadline = time.monotonic() + 20
    while not syscall.read_text().startswith(f"{READ_SYSCALL} 0x0 "):
        assert time.monotonic() < deadline, syscall.read_text()
        time.sleep(0.01)
    run.proc.send_signal(signal.SIGINT)
    code, err = run.finish()
    assert code == 130, err
    assert err.strip() == "hitless up: interrupted"
    assert list(run.tmp.iterdir()) == []


def test_the_log_directory_of_a_sigkilled_run_is_removed_by_the_next(tmp_path: Path, runs: list[Run]) -> None:
    run = Run(tmp_path, HITLESS)
    runs.append(run)
    run.read_until(run.pod_running)
    procs = descendants(run.proc.pid)
    live, lock = make_run_log_dir(run.tmp)  # another run's, alive: never touched
    try:
        assert clean_stale(run.tmp) == []  # the running one's is locked too
        os.kill(run.proc.pid, signal.SIGKILL)
        run.proc.wait()
        deadline = time.monotonic() + 10
        while still_alive(procs) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = [p for p in run.tmp.iterdir() if p.name.startswith(PREFIX) and p != live]
        assert len(left) == 1 and any(left[0].rglob("*.log")), left
        assert clean_stale(run.tmp) == left
        assert live.exists()
    finally:
        remove_run_log_dir(live, lock)


def test_a_closed_output_stops_the_run_as_sigpipe_would(tmp_path: Path, runs: list[Run]) -> None:
    # `hitless up -o jsonl | head -1`: the reader goes away; the run stops, its pods deleted.
    run = Run(tmp_path, HITLESS)
    runs.append(run)
    run.read_until(lambda: bool(run.out))
    procs = descendants(run.proc.pid)
    assert run.proc.stdout is not None
    run.proc.stdout.close()
    assert run.proc.stderr is not None
    err = run.proc.stderr.read()
    assert run.proc.wait(timeout=30) == 141, err
    assert err.splitlines()[-1] == "hitless up: its output was closed (broken pipe): stopped"
    assert "Traceback" not in err and "Exception ignored" not in err
    assert still_alive(procs) == set()
    assert list(run.tmp.iterdir()) == []
