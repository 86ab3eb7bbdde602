"""The real charts of tests/fixtures/charts run under ``hitless up`` with zero errors (issue 17).

Their images live on public registries, which tests never reach: every registry they name is
mirrored to a closed loopback port, so each pull fails at once, on this machine, with the
kubelet's words. What is shown is that everything the charts render is taken as a cluster takes
it: every object is either run (its Pods, Deployments, Jobs, DaemonSet, Services, their
EndpointSlices) or named as stored, and no load or apply error is printed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hitless.api import load
from hitless.api.kinds import lookup

CHARTS = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "charts").glob("*.yaml"))
# A closed port: a connect is refused at once and nothing leaves the machine.
CLOSED = "http://127.0.0.1:1"
REGISTRIES = ("docker.io", "quay.io", "registry.k8s.io", "ghcr.io")


@pytest.mark.slow
def test_every_chart_runs_under_hitless_up_with_no_error(tmp_path: Path) -> None:
    mirrors = [f"--registry-mirror={host}={CLOSED}" for host in REGISTRIES]
    proc = subprocess.run(
        [sys.executable, "-m", "hitless", "up", *map(str, CHARTS), "--duration", "3", "-o", "jsonl",
         "--image-cache", str(tmp_path / "images"), *mirrors],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "error" not in proc.stderr.lower(), proc.stderr
    streamed = [json.loads(line) for line in proc.stdout.splitlines()]
    objects = [o for o in streamed if "metadata" in o]  # the rest are proxy syncs (docs/jsonl.md)
    seen = {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in objects}
    stored_lines = [line for line in proc.stderr.splitlines() if "stored, not emulated" in line]
    loaded = load([str(c) for c in CHARTS])
    assert loaded.ok
    for o in loaded.objects:
        obj = o.obj
        info = lookup(obj.api_version, obj.kind)
        if (
            info is not None
            and info.handling == "emulated"
            and obj.kind in ("Pod", "Service", "Deployment", "DaemonSet", "Job", "StatefulSet")
        ):
            assert (obj.kind, obj.namespace, obj.name) in seen, (obj.kind, obj.name)
        elif info is None or info.handling == "stored":
            # "Kind (apiVersion): N stored, not emulated: ns/name, ..." (the first five are named).
            assert any(line.startswith(f"hitless: {obj.kind} (") for line in stored_lines), obj.kind
    # Every image pull failed here, on the closed mirror, with the kubelet's reason.
    failed = [o for o in objects if o["kind"] == "Event" and o.get("reason") == "Failed"]
    assert failed and all(CLOSED.split("//")[1] in o["message"] or o["message"].startswith("Error: ")
                          for o in failed)  # fmt: skip
