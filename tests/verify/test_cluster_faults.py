"""Cluster mode's faults against hitless's API server (a bare store, no engine): a watch the server
closes mid-run, and a namespace that cannot be deleted. The run's own code (the CLI's cluster
path: preflight, namespace, apply, watches, cleanup, report) runs for real; only the rollout under load
is left out (``_observe`` watches and reports with no requests), which the end-to-end tests in
test_cluster.py cover."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from hitless.api.types.service import Service
from hitless.apiserver.kubeconfig import Kubeconfig
from hitless.cli import verify as verify_cli
from hitless.clock import Clock, RealClock
from hitless.kube.client import ApiError, KubeClient
from hitless.kube.config import load_kubeconfig
from hitless.verify import cluster, cluster_cleanup
from hitless.verify.cluster_steps import Watched
from hitless.verify.options import VerifyOptions
from hitless.verify.result import Result
from tests.apiserver.conftest import Served
from tests.apiserver.conftest import served as served  # the fixture
from tests.verify.test_cluster_client import _pod

ROOT = Path(__file__).resolve().parents[2]


def _kubeconfig(served: Served, tmp_path: Path) -> str:
    assert served.server.credentials is not None
    path = tmp_path / "kubeconfig"
    Kubeconfig.write(served.url, served.server.credentials, path)
    return str(path)


async def _run_main(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, during: Any
) -> tuple[int, dict[str, Any]]:
    """``hitless verify --kubeconfig`` in a thread of its own (it runs its own event loop), this
    loop serving; ``during(watched, namespace)`` is what happens while the run watches."""
    main_loop = asyncio.get_running_loop()

    async def observe(
        client: KubeClient,
        opts: VerifyOptions,
        namespace: str,
        service: Service,
        workload: tuple[str, str],
        clock: Clock,
        info: dict[str, Any],
    ) -> Result:
        selector = ",".join(f"{k}={v}" for k, v in (service.spec.selector or {}).items())
        watched = Watched(client, clock, namespace, selector, service.name)
        await watched.start()
        origin = clock.now()
        try:
            # The server's side runs in the test's loop: hand it over there.
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(during(watched, namespace), main_loop))
        finally:
            await watched.stop()
        return cluster._outcome([], watched, opts, namespace, workload, service, origin, None, info)

    monkeypatch.setattr(cluster, "_observe", observe)
    report = tmp_path / "report"
    argv = [
        str(ROOT / "examples/zero-downtime.yaml"),
        *("--kubeconfig", _kubeconfig(served, tmp_path), "--report", str(report)),
    ]
    code = await asyncio.to_thread(verify_cli.main, argv)
    return code, json.loads((report / "report.json").read_text())


async def test_a_watch_closed_by_the_server_is_resumed_and_recorded_as_a_gap(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert served.server.rest is not None
    # kube-apiserver closes a watch after --min-request-timeout (30 to 60 min): here 1 to 2 s.
    served.server.rest.min_request_timeout = 1.0
    lists: list[str] = []

    async def during(watched: Watched, namespace: str) -> None:
        pods = watched.reflectors[0]
        real_list = pods._list

        async def counted() -> None:
            lists.append(namespace)
            await real_list()

        monkeypatch.setattr(pods, "_list", counted)
        await asyncio.wait_for(pods.gap.wait(), 10)
        # After the gap the watch goes on from where it was: a change still arrives.
        pod = _pod("after-the-gap")
        pod.metadata.namespace = namespace
        served.store.create(pod)
        await watched.until(
            lambda: "after-the-gap" in {p.name for p in watched.view.timeline.pods.values()}, 10
        )

    code, report = await _run_main(served, tmp_path, monkeypatch, during)
    assert code == 0, capsys.readouterr().err
    assert report["mode"] == "cluster" and report["verdict"] == "pass"
    # Resumed from the last resourceVersion: no list after the first.
    assert lists == []
    gaps = [g for g in report["cluster"]["gaps"] if g["resource"] == "pods"]
    assert gaps and gaps[0]["why"] == "watch closed by the server"
    assert all(0 <= g["end"] - g["start"] < 1 for g in gaps), gaps
    assert report["cluster"]["cleanup"] == {"namespace": report["cluster"]["namespace"], "deleted": True}
    # The picture is written as locally, the gaps shaded.
    assert (tmp_path / "report" / "timeline.png").read_bytes().startswith(b"\x89PNG")


async def test_a_namespace_that_cannot_be_deleted_is_left_and_said(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A finalizer nothing removes, put on the run's namespace as it is created (at the client
    # seam: the request goes out as it would from a cluster's mutating webhook's point of view).
    real = KubeClient.request

    async def request(self: KubeClient, method: str, path: str, **kw: Any) -> dict[str, Any]:
        if method == "POST" and path == "/api/v1/namespaces":
            kw["body"]["metadata"]["finalizers"] = ["example.com/hold"]
        return await real(self, method, path, **kw)

    monkeypatch.setattr(KubeClient, "request", request)
    monkeypatch.setattr(cluster_cleanup, "NAMESPACE_GONE_TIMEOUT", 0.5)

    async def during(watched: Watched, namespace: str) -> None:
        return None

    code, report = await _run_main(served, tmp_path, monkeypatch, during)
    err = capsys.readouterr().err
    namespace = report["cluster"]["namespace"]
    # The verdict stands; the exit is 1, as kubectl delete --wait's time-out.
    assert report["verdict"] == "pass" and code == 1
    cleanup = report["cluster"]["cleanup"]
    assert cleanup["deleted"] is False
    assert 'metadata.finalizers ["example.com/hold"]' in cleanup["left"]
    assert "Terminating" in cleanup["left"]
    patch = """'{"metadata": {"finalizers": null}}'"""
    kubeconfig = _kubeconfig(served, tmp_path)
    assert cleanup["command"] == (
        f"kubectl --kubeconfig {kubeconfig} patch namespace {namespace} --type=merge -p {patch}"
    )
    assert f"namespace {namespace} was left in place" in err
    assert f"to finish deleting it: {cleanup['command']}" in err
    # The namespace is there, Terminating; the command printed finishes it.
    _, ns, _ = await served.request("GET", f"/api/v1/namespaces/{namespace}")
    assert ns["status"]["phase"] == "Terminating" and ns["metadata"]["deletionTimestamp"]
    async with KubeClient(load_kubeconfig(kubeconfig, None)) as client:
        await real(
            client,
            "PATCH",
            f"/api/v1/namespaces/{namespace}",
            body={"metadata": {"finalizers": None}},
            content_type="application/merge-patch+json",
        )
    assert served.store.get("Namespace", "", namespace) is None


async def test_a_refused_delete_leaves_the_namespace_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    class Refusing:
        async def request(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
            # kube-apiserver's words for an RBAC refusal (a webhook's read alike).
            raise ApiError(
                403,
                'namespaces "hitless-verify-0f" is forbidden: User "ci" cannot delete resource '
                '"namespaces" in API group "" in the namespace "hitless-verify-0f"',
                "Forbidden",
            )

    done = await cluster_cleanup.delete_namespace(
        Refusing(),  # type: ignore[arg-type]
        "hitless-verify-0f",
        RealClock(),
        cluster_cleanup.kubectl(None, "staging"),
    )
    assert done["deleted"] is False and done["left"].startswith("the DELETE was refused: 403 Forbidden")
    assert done["command"] == "kubectl --context staging delete namespace hitless-verify-0f"
    err = capsys.readouterr().err
    assert "namespace hitless-verify-0f was left in place: the DELETE was refused" in err
    assert "to finish deleting it: kubectl --context staging delete namespace hitless-verify-0f" in err
