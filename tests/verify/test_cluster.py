"""``hitless verify --kubeconfig`` against a "cluster" that is ``hitless up --api``: the run sees
only what the API shows (no proxy records), so this is cluster mode end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hitless.cli import verify as verify_cli
from hitless.kube.client import KubeClient
from hitless.runtime.linux.procfs import has_cap_sys_admin

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not has_cap_sys_admin(), reason="hitless up needs root (namespaces)"),
]
ROOT = Path(__file__).resolve().parents[2]
SYSTEM = ["default", "kube-node-lease", "kube-public", "kube-system"]


class Cluster:
    """An empty ``hitless up /dev/null --api 0`` in the background, its kubeconfig of its own."""

    def __init__(self, tmp: Path) -> None:
        self.kubeconfig = tmp / "kubeconfig"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hitless",
                "up",
                "/dev/null",
                "--api",
                "0",
                "--kubeconfig",
                str(self.kubeconfig),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stderr: list[str] = []
        self.ready = threading.Event()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)
            if line.startswith("export KUBECONFIG="):
                self.ready.set()

    def verify(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hitless", "verify", *args, "--kubeconfig", str(self.kubeconfig)],
            capture_output=True,
            text=True,
            timeout=180,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        )

    def namespaces(self) -> list[str]:
        import asyncio

        from hitless.kube.config import load_kubeconfig

        async def names() -> list[str]:
            async with KubeClient(load_kubeconfig(str(self.kubeconfig), None)) as client:
                listed = await client.request("GET", "/api/v1/namespaces")
            return sorted(n["metadata"]["name"] for n in listed["items"])

        return asyncio.run(names())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        assert c.ready.wait(60), "".join(c.stderr)
        yield c
    finally:
        c.proc.terminate()
        try:
            c.proc.wait(30)
        except subprocess.TimeoutExpired:
            c.proc.kill()
            c.proc.wait()


def test_the_broken_manifest_fails_with_the_termination_race_named(cluster: Cluster, tmp_path: Path) -> None:
    # Fresh connections (--connections close): each race is met by new connections, so the first
    # deletion (no other endpoint failing then) always yields inferred blames.
    done = cluster.verify(
        "examples/broken/no-prestop.yaml",
        *("--repeat", "1", "--rps", "100", "--connections", "close", "--report", str(tmp_path)),
    )
    assert done.returncode == 1, done.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["mode"] == "cluster" and report["verdict"] == "fail"
    assert report["cluster"]["target"]["through"] == "ClusterIP"
    assert report["cluster"]["namespace"].startswith("hitless-verify-")
    failures = report["failures"]
    evidence = {"exact-connection", "exact-app-log", "inferred", "unattributed"}
    assert failures and all(f["evidence"] in evidence for f in failures), [
        (f["seq"], f["evidence"], f["pod"]) for f in failures if f["evidence"] not in evidence
    ]
    blamed = [f for f in failures if f["evidence"] != "unattributed"]
    assert blamed, failures
    # Each blame names a pod of this run that was being replaced; unattributed ones name candidates.
    replaced = {p["pod"] for p in report["pods"] if p["deleted"] is not None}
    assert all(f["pod"] in replaced for f in blamed if f["cause"] != "keepalive-reset")
    assert all(f["candidates"] for f in failures if f["evidence"] == "unattributed")
    race = [f for f in report["findings"] if f["cause"] == "terminating-still-routed"]
    assert race, report["findings"]
    assert race[0]["field"] == "spec.template.spec.containers[0].lifecycle.preStop.sleep.seconds"
    assert race[0]["object"] == "Deployment/web"
    assert "terminating-still-routed" in done.stdout
    # The throwaway namespace is gone again.
    assert cluster.namespaces() == SYSTEM
    assert "On a cluster" in (tmp_path / "report.html").read_text()
    assert (tmp_path / "timeline.png").read_bytes().startswith(b"\x89PNG")
    assert report["cluster"]["cleanup"] == {"namespace": report["cluster"]["namespace"], "deleted": True}


def test_the_zero_downtime_manifest_passes(cluster: Cluster) -> None:
    done = cluster.verify(
        "examples/zero-downtime.yaml",
        *("--repeat", "1", "--rps", "100", "--connections", "mixed", "--format", "json"),
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    report = json.loads(done.stdout)
    assert report["mode"] == "cluster" and report["requests"]["failed"] == 0
    assert report["requests"]["total"] > 100
    # Every answer named its pod; the rollout replaced all three, so at least four answered.
    assert len(report["requests"]["byPod"]) >= 4
    # The replaced pods kept serving (preStop sleep 2 s): new connections still reached them after
    # their endpoints changed, which bounds this cluster's propagation delay from below.
    assert report["cluster"]["propagation"] and all(v > 0 for v in report["cluster"]["propagation"].values())
    assert cluster.namespaces() == SYSTEM


def test_a_cluster_run_is_a_library_call(cluster: Cluster) -> None:
    from hitless.api import load
    from hitless.verify.cluster import verify_cluster
    from hitless.verify.options import ClusterTarget, VerifyOptions

    files = [str(ROOT / "examples/zero-downtime.yaml")]
    loaded = load(files).applied()
    opts = VerifyOptions(
        files=tuple(files), repeat=1, rps=50, cluster=ClusterTarget(kubeconfig=str(cluster.kubeconfig))
    )
    result = verify_cluster(loaded, opts)
    assert result.passed and result.left is None, result.report and result.report.text()
    assert result.report is not None and result.report.failed == 0
    doc = result.document()
    assert doc["mode"] == "cluster" and doc["verdict"] == "pass"
    assert doc["cluster"]["namespace"].startswith("hitless-verify-")
    assert doc["cluster"]["cleanup"] == {"namespace": doc["cluster"]["namespace"], "deleted": True}
    assert doc["requests"]["total"] == result.sent > 50
    assert cluster.namespaces() == SYSTEM


def test_a_missing_permission_is_exit_2_before_anything_is_created(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # hitless's API server has no RBAC (every SelfSubjectAccessReview is allowed): the review's
    # answer is faked at the client seam, after the real request went out.
    real = KubeClient.can_i

    async def can_i(
        self: KubeClient,
        verb: str,
        resource: str,
        group: str = "",
        namespace: str = "",
        subresource: str = "",
    ) -> bool:
        allowed = await real(self, verb, resource, group, namespace, subresource)
        return allowed and not (verb == "delete" and resource == "namespaces")

    monkeypatch.setattr(KubeClient, "can_i", can_i)
    monkeypatch.chdir(ROOT)
    started = time.monotonic()
    code = verify_cli.main(["examples/zero-downtime.yaml", "--kubeconfig", str(cluster.kubeconfig)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "missing permissions" in err and "delete namespaces (cluster-scoped)" in err
    assert "create namespaces" not in err
    assert cluster.namespaces() == SYSTEM
    assert time.monotonic() - started < 10


def test_ctrl_c_deletes_the_throwaway_namespace(cluster: Cluster) -> None:
    import asyncio
    import signal

    from hitless.clock import RealClock
    from hitless.kube.client import Reflector
    from hitless.kube.config import load_kubeconfig
    from hitless.tasks import cancel_and_wait, spawn

    proc = subprocess.Popen(
        [sys.executable, "-m", "hitless", "verify", "examples/zero-downtime.yaml", "--kubeconfig",
         str(cluster.kubeconfig)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip

    async def interrupt_once_it_runs() -> None:
        # Watch the cluster's namespaces: a new one is the run's, which is then under way.
        seen = asyncio.Event()

        def on_namespace(kind: str, obj: dict[str, Any], at: float) -> None:
            if namespaces.synced.is_set() and kind == "ADDED":
                seen.set()

        async with KubeClient(load_kubeconfig(str(cluster.kubeconfig), None)) as client:
            namespaces = Reflector(client, "/api/v1/namespaces", RealClock(), on_namespace)
            task = spawn("namespaces", namespaces.run())
            try:
                await asyncio.wait_for(seen.wait(), 60)
            finally:
                await cancel_and_wait(task)

    asyncio.run(interrupt_once_it_runs())
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, out + err
    assert "interrupted" in err and "left in place" not in err
    # The run deleted its namespace; the API server removes it once it is finalized (a namespace
    # terminates first, as on a cluster): wait for that, bounded.
    deadline = time.monotonic() + 30
    while cluster.namespaces() != SYSTEM and time.monotonic() < deadline:
        time.sleep(0.1)
    assert cluster.namespaces() == SYSTEM


def test_cluster_flags_without_a_kubeconfig_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code = verify_cli.main([str(ROOT / "examples/zero-downtime.yaml"), "--namespace", "staging"])
    assert code == 2
    assert "--namespace is for a cluster: it needs --kubeconfig" in capsys.readouterr().err
