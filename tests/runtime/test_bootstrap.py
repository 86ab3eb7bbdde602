"""No process outlives the engine: kill -9 of any of its processes tears the whole tree down.

Each test runs ``engine_script.py`` (bootstrap, two pods, four containers among which shells
that ignore SIGTERM and have children, one exec) and then kills it in some way.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

import hitless
from hitless.runtime.linux.bootstrap import advice
from hitless.runtime.linux.procfs import ProcStat, descendants, is_alive

SCRIPT = Path(__file__).with_name("engine_script.py")
SRC = Path(hitless.__file__).resolve().parents[1]
SYSTEM_PYTHON = "/usr/bin/python3"


class Engine:
    def __init__(self, log_dir: Path, as_nobody: bool = False) -> None:
        python = SYSTEM_PYTHON if as_nobody else sys.executable
        argv = [python, str(SCRIPT), str(log_dir)]
        if as_nobody:
            argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", *argv]
        env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(SRC), "PYTHONDONTWRITEBYTECODE": "1"}
        self.outer = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd="/")
        self.ready = self._readline(timeout=30)
        # The whole tree, as the machine sees it: P's descendants (I, E, holders, containers...).
        self.tree = descendants(self.outer.pid)

    def _readline(self, timeout: float) -> str:
        assert self.outer.stdout is not None
        if not select.select([self.outer.stdout], [], [], timeout)[0]:
            self.outer.kill()
            raise AssertionError("the engine did not get ready")
        line = self.outer.stdout.readline().decode()
        if not line.startswith("READY"):
            assert self.outer.stderr is not None
            raise AssertionError(f"engine failed: {line}{self.outer.stderr.read().decode()}")
        return line

    @property
    def init(self) -> ProcStat:
        (init,) = [p for p in self.tree if p.ppid == self.outer.pid]
        return init

    @property
    def engine(self) -> ProcStat:
        (engine,) = [p for p in self.tree if p.ppid == self.init.pid and p.comm.startswith("python")]
        return engine

    def survivors(self) -> list[ProcStat]:
        return [p for p in self.tree if is_alive(p.pid, p.starttime)]

    def assert_all_gone(self, timeout: float = 10) -> int:
        deadline = time.monotonic() + timeout
        while self.survivors() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.survivors() == []
        return self.outer.wait(timeout=timeout)

    def close(self) -> None:
        for p in self.survivors():  # only if a test failed: never leave anything behind
            os.kill(p.pid, signal.SIGKILL)
        if self.outer.poll() is None:
            self.outer.kill()
        self.outer.communicate()


@pytest.fixture
def log_dir() -> Iterator[Path]:
    # Outside pytest's 0700 tmp dirs, so that the unprivileged engine can write its logs.
    path = Path(tempfile.mkdtemp(prefix="hitless-engine-"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path)


def start(log_dir: Path, as_nobody: bool = False) -> Engine:
    engine = Engine(log_dir, as_nobody)
    comms = Counter(p.comm for p in engine.tree)
    # I and E; two holders; two sh and two sleep PID 1s; four children of the shells; an exec.
    assert comms["sleep"] == 9 and comms["sh"] == 2, comms
    assert len(engine.tree) == 13, engine.tree
    return engine


@pytest.mark.parametrize("victim", ["outer", "init", "engine"])
def test_kill_9_leaves_nothing_behind(log_dir: Path, victim: str) -> None:
    engine = start(log_dir)
    try:
        assert "user_namespace=False net=ok" in engine.ready
        pid = engine.outer.pid if victim == "outer" else getattr(engine, victim).pid
        os.kill(pid, signal.SIGKILL)
        returncode = engine.assert_all_gone()
        # P dies of the signal itself, or mirrors it: I's status is 128+9 when E was killed.
        assert returncode == (137 if victim == "engine" else -signal.SIGKILL)
    finally:
        engine.close()


def test_sigterm_to_the_outer_process_reaches_the_engine(log_dir: Path) -> None:
    engine = start(log_dir)
    try:
        os.kill(engine.outer.pid, signal.SIGTERM)
        # The script has no SIGTERM handler: the engine dies of it, and with it everything.
        assert engine.assert_all_gone() == 128 + signal.SIGTERM
    finally:
        engine.close()


def test_sigint_to_the_outer_process_shuts_down_gracefully(log_dir: Path) -> None:
    engine = start(log_dir)
    try:
        os.kill(engine.outer.pid, signal.SIGINT)
        assert engine.assert_all_gone() == 130  # the script's KeyboardInterrupt path ran
    finally:
        engine.close()


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to become nobody")
def test_unprivileged_engine_uses_a_user_namespace(log_dir: Path) -> None:
    if not os.path.exists(SYSTEM_PYTHON):
        pytest.skip(f"{SYSTEM_PYTHON} (readable by nobody) is missing")
    version = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import sys; print(sys.version_info >= (3, 11))"],
        capture_output=True,
        text=True,
    )
    if version.stdout.strip() != "True":
        pytest.skip(f"{SYSTEM_PYTHON} is older than 3.11")
    engine = start(log_dir, as_nobody=True)
    try:
        assert "user_namespace=True net=ok" in engine.ready
        assert {os.stat(f"/proc/{p.pid}").st_uid for p in engine.tree} == {65534}
        assert all(p.stat().st_uid == 65534 for p in log_dir.rglob("*.log"))
        os.kill(engine.outer.pid, signal.SIGKILL)
        assert engine.assert_all_gone() == -signal.SIGKILL
    finally:
        engine.close()


def test_advice_names_the_fixes() -> None:
    text = advice("unshare: Operation not permitted")
    assert "Operation not permitted" in text
    for fix in (
        "kernel.unprivileged_userns_clone=1",
        "kernel.apparmor_restrict_unprivileged_userns=0",
        "user.max_user_namespaces",
        "root",
    ):
        assert fix in text


# E announces itself, then takes its time before it would restore its own signal dispositions:
# a SIGTERM sent meanwhile must wait for them, not be swallowed by the forwarding handler.
SLOW_ENGINE = """
import sys, time
from hitless.runtime.linux import bootstrap
become = bootstrap._become_engine
def slow_become(*args):
    print("forked", flush=True)
    time.sleep(0.3)
    become(*args)
bootstrap._become_engine = slow_become
bootstrap.enter_engine_namespaces()
print("engine running", flush=True)
time.sleep(30)
"""


def _python(code: str) -> subprocess.Popen[bytes]:
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(SRC), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd="/"
    )


def test_signal_during_start_up_is_not_lost() -> None:
    proc = _python(SLOW_ENGINE)
    try:
        assert proc.stdout is not None
        assert select.select([proc.stdout], [], [], 30)[0]
        assert proc.stdout.readline() == b"forked\n"
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=10) == 128 + signal.SIGTERM
        assert proc.stdout.read() == b""  # E died of it before running anything
    finally:
        if proc.poll() is None:
            proc.kill()  # I dies with P (PDEATHSIG), and E with I's namespace
        proc.communicate()


def test_engine_errors_and_threads() -> None:
    crash = _python(
        "from hitless.runtime.linux import enter_engine_namespaces\n"
        "import signal\n"
        "enter_engine_namespaces()\n"
        "assert not signal.pthread_sigmask(signal.SIG_BLOCK, []), 'E must not pass a mask on'\n"
        "raise ValueError('boom')\n"
    )
    _, err = crash.communicate(timeout=30)
    assert crash.returncode == 1  # E's exit status, through I and P
    assert b"ValueError: boom" in err and err.count(b"Traceback") == 1

    # A thread Python's threading module does not know of still counts.
    threaded = _python(
        "import _thread, os, time\n"
        "r, w = os.pipe(); _thread.start_new_thread(os.read, (r, 1)); time.sleep(0.05)\n"
        "from hitless.runtime.linux import enter_engine_namespaces\n"
        "enter_engine_namespaces()\n"
    )
    _, err = threaded.communicate(timeout=30)
    assert threaded.returncode == 1
    assert b"before any thread is started (this process has 2)" in err
