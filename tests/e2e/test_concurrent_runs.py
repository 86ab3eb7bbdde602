"""Three ``hitless up`` started at the same moment on one host (proxy/claims.py)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from hitless.proxy.claims import claim_holder, try_claim
from tests.e2e.test_cli import Up, ready_count

# /proc/PID/comm of a `hitless up`: the name its interpreter was executed by.
COMM = os.path.basename(sys.executable)[:15]

WEB = """
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  containers:
  - name: web
    image: hitless
    args: [demo-app, --port=8080, --request-log=none]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080, nodePort: 30777}]
"""

FIXED = """
---
apiVersion: v1
kind: Service
metadata: {name: fixed}
spec:
  clusterIP: 127.96.41.42
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
"""


@pytest.fixture
def runs(tmp_path: Path) -> Iterator[list[Up]]:
    started: list[Up] = []
    yield started
    for u in started:
        u.kill()
        for pipe in (u.proc.stdout, u.proc.stderr):
            if pipe is not None:
                pipe.close()


def host_ip(u: Up) -> str:
    pods = [o for o in u.lines if o.get("kind") == "Pod"]
    status = pods[-1]["status"]
    assert isinstance(status, dict)
    return str(status["hostIP"])


def get(url: str) -> int:
    """The status of GET url, once the Service's proxy has its endpoint (it propagates after the
    pod is Ready, as kube-proxy's sync does); loopback, so past the suite's closed proxy."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + 10
    while True:
        try:
            with opener.open(url, timeout=5) as response:
                return int(response.status)
        except urllib.error.URLError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.mark.slow
def test_runs_started_together_take_their_own_nodes_and_one_fixed_cluster_ip(
    tmp_path: Path, runs: list[Up]
) -> None:
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
    # a and b both want the clusterIP 127.96.41.42; all three the nodePort 30777 on their nodes.
    runs += [Up(tmp_path / "a", WEB + FIXED), Up(tmp_path / "b", WEB + FIXED), Up(tmp_path / "c", WEB)]
    a, b, c = runs
    # Exactly one of a and b refuses before it starts anything, naming the other.
    deadline = time.monotonic() + 30
    while a.proc.poll() is None and b.proc.poll() is None:
        assert time.monotonic() < deadline, "neither refused"
        with contextlib.suppress(subprocess.TimeoutExpired):
            a.proc.wait(timeout=0.05)
    refused = a if a.proc.poll() is not None else b
    survivor = b if refused is a else a
    code, err = refused.finish()
    assert code == 2, err
    assert (
        'hitless: Service "fixed" is invalid: spec.clusterIP: Invalid value: "127.96.41.42": provided IP is '
        f"already allocated on this host (127.96.41.42:80 is claimed by another hitless run, "
        f"pid {survivor.proc.pid} ({COMM}))" in err
    ), err
    assert "nothing was started" in err
    for u in (survivor, c):
        u.read_until(lambda obj, u=u: ready_count(u.lines) == 1)
    addresses = {host_ip(survivor), host_ip(c)}
    assert len(addresses) == 2, addresses
    for address in addresses:
        assert get(f"http://{address}:30777/") == 200
    assert get("http://127.96.41.42:80/") == 200
    assert survivor.proc.poll() is None and c.proc.poll() is None
    # The claim is held for the run's life by its processes (the user's, the engine's) and dies
    # with them, whatever ends them.
    assert try_claim("127.96.41.42:80") is None
    assert claim_holder("127.96.41.42:80") == f"pid {survivor.proc.pid} ({COMM})"
    survivor.kill()
    deadline = time.monotonic() + 10
    while (claim := try_claim("127.96.41.42:80")) is None:
        assert time.monotonic() < deadline, claim_holder("127.96.41.42:80")
        time.sleep(0.05)
    claim.release()
