"""The engine's event loop runs ahead of the pods (engine.run_ahead_of_pods), and only it does:
threads and processes started after it are ordinary ones (SCHED_RESET_ON_FORK)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

SCRIPT = """
import json, os, threading
from hitless.engine import run_ahead_of_pods

why_not = run_ahead_of_pods()
seen = {"why_not": why_not, "loop": os.sched_getscheduler(0)}
t = threading.Thread(target=lambda: seen.__setitem__("thread", os.sched_getscheduler(0)))
t.start()
t.join()
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.write(w, str(os.sched_getscheduler(0)).encode())
    os._exit(0)
os.waitpid(pid, 0)
seen["child"] = int(os.read(r, 16))
print(json.dumps(seen))
"""


def test_only_the_loop_thread_runs_ahead() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=True
    )
    seen = json.loads(out.stdout)
    if seen["why_not"] is not None:
        pytest.skip(f"the event loop cannot run ahead here: {seen['why_not']}")
    assert seen["loop"] == os.SCHED_FIFO | os.SCHED_RESET_ON_FORK
    assert seen["thread"] == os.SCHED_OTHER  # sandbox threads, the default executor
    assert seen["child"] == os.SCHED_OTHER  # containers, exec probes, hooks


def test_without_the_privilege_it_says_why() -> None:
    setpriv = shutil.which("setpriv")
    if setpriv is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv to run without CAP_SYS_NICE")
    script = "from hitless.engine import run_ahead_of_pods; print(run_ahead_of_pods())"
    drop = ["--inh-caps=-sys_nice", "--bounding-set=-sys_nice", "--"]
    out = subprocess.run(
        [setpriv, *drop, sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() in ("sched_setscheduler: Operation not permitted", "fewer than 2 CPUs")
