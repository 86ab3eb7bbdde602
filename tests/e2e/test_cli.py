"""``hitless up`` as a user runs it: a subprocess, its output, its exit code, its signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hitless.runtime.linux.procfs import pids, read_stat

HITLESS = [sys.executable, "-m", "hitless"]

PODS = """
apiVersion: v1
kind: Pod
metadata: {name: shell}
spec:
  terminationGracePeriodSeconds: 30
  containers:
  - name: main
    image: busybox
    command: [sh, -c, "sleep 1000 & sleep 1001 & wait"]
---
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
  - name: web
    image: hitless
    args: [demo-app, --children=2, --request-log=none]
"""


def descendants(root: int) -> set[tuple[int, int]]:
    """(pid, start time) of every live process below ``root``; the start time guards against reuse."""
    children: dict[int, list[int]] = {}
    starts: dict[int, int] = {}
    for pid in pids():
        st = read_stat(pid)
        if st is not None and st.state != "Z":
            children.setdefault(st.ppid, []).append(pid)
            starts[pid] = st.starttime
    found: set[tuple[int, int]] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add((child, starts[child]))
            todo.append(child)
    return found


def still_alive(procs: set[tuple[int, int]]) -> set[tuple[int, int]]:
    alive = set()
    for pid, start in procs:
        st = read_stat(pid)
        if st is not None and st.starttime == start and st.state != "Z":
            alive.add((pid, start))
    return alive


class Up:
    def __init__(self, tmp_path: Path, manifest: str, *args: str) -> None:
        path = tmp_path / "pods.yaml"
        path.write_text(manifest)
        self.proc = subprocess.Popen(
            [*HITLESS, "up", str(path), "-o", "jsonl", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[dict[str, object]] = []

    def read_until(self, predicate: object, timeout: float = 20) -> None:
        assert callable(predicate)
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(json.loads(line))
            if predicate(self.lines[-1]):
                return
        raise AssertionError(f"not seen in {timeout}s; stderr: {self.stderr_now()}")

    def stderr_now(self) -> str:
        if self.proc.poll() is None:
            return "(still running)"
        assert self.proc.stderr is not None
        return self.proc.stderr.read()

    def finish(self, timeout: float = 30) -> tuple[int, str]:
        out, err = self.proc.communicate(timeout=timeout)
        for line in out.splitlines():
            self.lines.append(json.loads(line))
        return self.proc.returncode, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def up(tmp_path: Path) -> Iterator[list[Up]]:
    started: list[Up] = []
    yield started
    for u in started:
        u.kill()


def ready_count(lines: list[dict[str, object]]) -> int:
    latest: dict[str, bool] = {}
    for obj in lines:
        if obj.get("kind") != "Pod":
            continue
        status = obj.get("status") or {}
        assert isinstance(status, dict)
        conditions = status.get("conditions") or []
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
        meta = obj["metadata"]
        assert isinstance(meta, dict)
        latest[str(meta["name"])] = ready
    return sum(latest.values())


def test_kill_9_of_hitless_leaves_no_pod_process(tmp_path: Path, up: list[Up]) -> None:
    u = Up(tmp_path, PODS)
    up.append(u)
    u.read_until(lambda obj: ready_count(u.lines) == 2)
    time.sleep(0.5)  # the demo app has started its children
    procs = descendants(u.proc.pid)
    # The engine, its PID 1, two sandboxes, two containers, the shell's and the app's children.
    assert len(procs) >= 9, procs
    os.kill(u.proc.pid, signal.SIGKILL)
    u.proc.wait()
    deadline = time.monotonic() + 10
    while still_alive(procs) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert still_alive(procs) == set()


def test_second_ctrl_c_kills_at_once(tmp_path: Path, up: list[Up]) -> None:
    u = Up(tmp_path, PODS)
    up.append(u)
    u.read_until(lambda obj: ready_count(u.lines) == 2)
    u.proc.send_signal(signal.SIGINT)
    # The web pod drains in well under a second; the shell ignores SIGTERM for its 30 s grace.
    u.read_until(lambda obj: obj.get("kind") == "Event" and obj.get("reason") == "Killing")
    time.sleep(1.0)
    started = time.monotonic()
    u.proc.send_signal(signal.SIGINT)
    code, err = u.finish(timeout=20)
    assert time.monotonic() - started < 10
    assert code == 0, err
    assert "killing every container now" in err
    last_shell = [o for o in u.lines if o.get("kind") == "Pod" and o["metadata"]["name"] == "shell"][-1]  # type: ignore[index]
    term = last_shell["status"]["containerStatuses"][0]["state"]["terminated"]  # type: ignore[index]
    assert term["exitCode"] == 137


def test_jsonl_stream_is_pods_and_events_as_the_api_writes_them(tmp_path: Path, up: list[Up]) -> None:
    manifest = """
apiVersion: v1
kind: Pod
metadata: {name: once}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: busybox
    command: [sh, -c, "echo done"]
"""
    u = Up(tmp_path, manifest)
    up.append(u)
    code, err = u.finish()
    assert code == 0, err  # every pod finished, none failed
    assert "every pod has finished" in err
    kinds = {o["kind"] for o in u.lines}
    assert kinds == {"Pod", "Event"}
    events = [o for o in u.lines if o["kind"] == "Event"]
    reasons = [e["reason"] for e in events]
    assert reasons[:5] == ["Scheduled", "Pulled", "Created", "Started"][:4] + reasons[4:5]
    started = next(e for e in events if e["reason"] == "Started")
    assert started["involvedObject"]["fieldPath"] == "spec.containers{main}"  # type: ignore[index]
    assert started["source"] == {"component": "kubelet", "host": "node-1"}
    assert len(str(started["eventTime"]).split(".")[1]) == len("123456Z")
    last = [o for o in u.lines if o["kind"] == "Pod"][-1]
    assert last["status"]["phase"] == "Succeeded"  # type: ignore[index]
    term = last["status"]["containerStatuses"][0]["state"]["terminated"]  # type: ignore[index]
    assert term["exitCode"] == 0 and term["reason"] == "Completed"
    assert last["spec"]["terminationGracePeriodSeconds"] == 30  # type: ignore[index]  # defaulted


BAD = {
    "syntax.yaml": ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n   bad: indent\n", "syntax.yaml:5:"),
    "unknown.yaml": (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n  - name: a\n    image: x\n"
        "    livenesProbe: {tcpSocket: {port: 80}}\n",
        'unknown.yaml:8: Pod in version "v1" cannot be handled as a Pod: strict decoding error: '
        'unknown field "spec.containers[0].livenesProbe"',
    ),
    "type.yaml": (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  terminationGracePeriodSeconds: soon\n"
        "  containers:\n  - name: a\n    image: x\n",
        "type.yaml:5: ",
    ),
    "probe.yaml": (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n"
        "  - name: web\n    image: x\n    livenessProbe:\n"
        "      tcpSocket: {port: 80}\n      successThreshold: 2\n",
        'probe.yaml:10: Pod "web" is invalid: spec.containers[0].livenessProbe.successThreshold: '
        "Invalid value: 2: must be 1",
    ),
    "noname.yaml": (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n  - image: x\n",
        'noname.yaml:6: Pod "a" is invalid: spec.containers[0].name: Required value',
    ),
    "dup.yaml": (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n  - {name: a, image: x}\n"
        "  - {name: a, image: x}\n",
        'dup.yaml:7: Pod "a" is invalid: spec.containers[1].name: Duplicate value: "a"',
    ),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_manifest_exits_2_and_starts_nothing(tmp_path: Path, name: str) -> None:
    text, expected = BAD[name]
    good = (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: good}\nspec:\n  containers:\n"
        "  - {name: g, image: x, command: [sleep, '1000']}\n---\n"
    )
    (tmp_path / name).write_text(good + text)
    proc = subprocess.run([*HITLESS, "up", name], capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    # Lines count from the top of the file: the good pod above takes seven.
    file_, line, rest = expected.split(":", 2)
    assert f"{file_}:{int(line) + 7}:{rest}" in proc.stderr
    assert "nothing was started" in proc.stderr
