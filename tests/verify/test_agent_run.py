"""Cluster mode with the load from the in-cluster agent (``--load-from agent``): a Pod of the
"cluster" (``hitless up --api`` in this process) runs ``hitless agent load`` in its own network
namespace against the ClusterIP (through the pod's nftables redirect to its node's proxy), and the
runner reads its requests from the pod's log. The engine's proxy records of the same run are the
truth the blame is held to, as in test_cluster_truth.py for the load from the runner."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from hitless.api import load
from hitless.api.types.pod import Pod
from hitless.apiserver.kubeconfig import Kubeconfig
from hitless.apiserver.server import ApiServer
from hitless.runtime.linux.procfs import has_cap_sys_admin
from hitless.verify.agent import agent_summary
from hitless.verify.cluster import run_cluster
from hitless.verify.clusterview import EXACT, INFERRED
from hitless.verify.join import join
from hitless.verify.options import ClusterTarget, VerifyOptions
from tests.e2e.conftest import cluster_of

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not has_cap_sys_admin(), reason="the engine needs root (namespaces)"),
]
ROOT = Path(__file__).resolve().parents[2]


async def test_the_agent_loads_the_cluster_ip_and_the_race_is_named(tmp_path: Path) -> None:
    loaded = load([str(ROOT / "examples/broken/no-prestop.yaml")]).applied()
    async with cluster_of(tmp_path, nodes=2) as c:
        server = ApiServer(c.engine.store, c.clock, c.log_dir, "127.0.0.1", 0)
        # As `hitless up --api` wires it (apiserver/cli.py): the kubelets' token manager asks this
        # server for the pods' ServiceAccount tokens, which it then authenticates.
        for kubelet in c.engine.kubelets:
            kubelet.volumes.host.request_token = server.tokens.issue
        await server.start()
        server.spawn()
        try:
            assert server.credentials is not None
            kubeconfig = Kubeconfig.write(server.url, server.credentials, tmp_path / "kubeconfig")
            # Fresh connections at a low rate: each deletion's race is met by new connections.
            target = ClusterTarget(str(kubeconfig.path), load_from="agent")
            opts = VerifyOptions(rps=40, repeat=1, connections="close", cluster=target)
            outcome = await run_cluster(loaded, opts, c.clock)
        finally:
            await server.stop()
        run = outcome.cluster
        assert run is not None
        agent = run["agent"]
        # Deleted by the run (then with its namespace).
        left = [p for p in c.engine.store.objects("Pod") if isinstance(p, Pod) and p.name == agent["pod"]]
        assert all(p.metadata.deletion_timestamp is not None for p in left)
        assert outcome.report is not None
        requests = outcome.report.requests
        # The agent's connections leave from 127.0.0.1 inside its network namespace; its node's
        # proxy records them under the pod's IP.
        seen = [
            dataclasses.replace(r, client=(agent["podIP"], r.client[1]) if r.client else None)
            for r in requests
        ]
        truth = {
            r.seq: route.pod for r, route in zip(seen, join(seen, c.engine.connections.records), strict=True)
        }
    assert run["target"]["from"] == "agent" and run["target"]["through"] == "ClusterIP"
    assert agent["clock"]["mapping"] == "shared-monotonic" and "truncated" not in agent
    assert len(agent["warmedUp"]) == 3
    assert agent["why"] == "--load-from agent"
    # The blame's view came from the agent's own watches (its ServiceAccount's list+watch, through
    # the kubernetes Service from its pod), each kind of the view seen there.
    assert agent["watches"] is True and "watchesNot" not in agent, agent.get("watchesNot")
    assert agent_summary(agent).endswith(", blamed from its own watches")
    counts = agent["watchEvents"]
    assert set(counts) == {"pods", "endpointslices", "events"} and min(counts.values()) > 0, counts
    assert counts["pods"] >= 6  # three pods listed, each replaced, each seen deleted
    # Every request the agent sent came back through its log, and went through a proxy.
    assert sorted(r.seq for r in requests) == list(range(len(requests)))
    assert len(requests) > 40 and sum(t is not None for t in truth.values()) > 0.9 * len(requests)
    doc = outcome.document()
    assert doc["verdict"] == "fail"
    assert agent["pod"] not in {p["pod"] for p in doc["pods"]}
    race = [f for f in doc["findings"] if f["cause"] == "terminating-still-routed"]
    assert race, doc["findings"]
    assert race[0]["field"] == "spec.template.spec.containers[0].lifecycle.preStop.sleep.seconds"
    inferred = right = unattributed = covered = 0
    for failure, extra in zip(outcome.report.attribution.failures, outcome.evidence, strict=True):
        true = truth[failure.seq]
        if extra["evidence"] == EXACT:
            assert failure.pod == true, (failure, true)
        elif extra["evidence"] == INFERRED:
            inferred += 1
            right += failure.pod == true
        else:
            unattributed += 1
            covered += true is not None and true.split("/")[-1] in extra["candidates"]
    print(
        f"agent: {len(requests)} requests, {outcome.report.failed} failed, {run['evidence']}, "
        f"{right} of {inferred} inferred right, {counts}"
    )
    # As for the load from the runner (test_cluster_truth.py). From the runner's view this low
    # rate yielded 4-12 inferred blames, one now and then wrong (a request the kubelet's SIGTERM
    # refused before this machine's watch delivered that pod's deletion); from the agent's own
    # view, on its requests' clock, 61 of 63 failures were inferred in 4 runs, all right.
    assert inferred > 0 and (right * 10 >= inferred * 8 or inferred - right <= 1)
    assert covered * 10 >= unattributed * 8
