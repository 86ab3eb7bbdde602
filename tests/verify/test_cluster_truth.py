"""The differential test: cluster mode's blame (API observables only) against the engine's own
proxy records of the same run, the ground truth a real cluster hides.

The engine and its API server run in this process; ``hitless verify --kubeconfig``'s run goes
through the API like any client, and afterwards the same requests are joined to the engine's
connection records (verify/attribute.py's ``join``, what local verify blames with)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hitless.api import load_text
from hitless.apiserver.kubeconfig import Kubeconfig
from hitless.apiserver.server import ApiServer
from hitless.runtime.linux.procfs import has_cap_sys_admin
from hitless.verify.cluster import run_cluster
from hitless.verify.clusterview import EXACT, EXACT_APP_LOG, INFERRED
from hitless.verify.join import join
from hitless.verify.options import ClusterTarget, VerifyOptions
from tests.e2e.conftest import cluster_of

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not has_cap_sys_admin(), reason="the engine needs root (namespaces)"),
]
ROOT = Path(__file__).resolve().parents[2]


async def test_exact_blames_name_the_pod_the_engines_records_name(tmp_path: Path) -> None:
    # The broken example, each replacement 2 s apart (minReadySeconds): an old pod's failures then
    # end before the next one's begin. Without it, a loaded machine's proxies can lag past the next
    # deletion, two old pods fail at once, and which one a time-out met is not in the API's
    # observables (unattributed, with both as candidates: 79 % once in the suite, the bar below).
    text = (ROOT / "examples/broken/no-prestop.yaml").read_text()
    assert text.count("  replicas: 3\n") == 1
    text = text.replace("  replicas: 3\n", "  replicas: 3\n  minReadySeconds: 2\n")
    loaded = load_text(text, "examples/broken/no-prestop.yaml").applied()
    async with cluster_of(tmp_path, nodes=2) as c:
        server = ApiServer(c.engine.store, c.clock, c.log_dir, "127.0.0.1", 0)
        await server.start()
        server.spawn()
        try:
            assert server.credentials is not None
            kubeconfig = Kubeconfig.write(server.url, server.credentials, tmp_path / "kubeconfig")
            target = ClusterTarget(str(kubeconfig.path))
            # Two rollouts (six deletions): the bar is over the run's failures, and one deletion
            # whose time-outs two old pods could both have met weighs half as much as in one.
            opts = VerifyOptions(rps=150, repeat=2, connections="mixed", cluster=target)
            outcome = await run_cluster(loaded, opts, c.clock)
        finally:
            await server.stop()
        assert outcome.report is not None and outcome.cluster is not None
        run = outcome.cluster
        requests = outcome.report.requests
        truth = {
            r.seq: route.pod
            for r, route in zip(requests, join(requests, c.engine.connections.records), strict=True)
        }
    assert outcome.report.failed > 0
    exact = inferred = right = covered = unattributed = 0
    for failure, extra in zip(outcome.report.attribution.failures, outcome.evidence, strict=True):
        if extra["evidence"] in (EXACT, EXACT_APP_LOG):  # an exact blame of either kind must be right
            exact += 1
            assert failure.pod == truth[failure.seq], (failure, truth[failure.seq])
        elif extra["evidence"] == INFERRED:
            inferred += 1
            right += failure.pod == truth[failure.seq]
        else:
            unattributed += 1
            true = truth[failure.seq]
            covered += true is not None and true.split("/")[-1] in extra["candidates"]
    print(
        f"failures {outcome.report.failed}: exact {exact}, inferred {inferred} ({right} right), "
        f"unattributed {unattributed} (true pod among the candidates: {covered}); "
        f"allowance {run['propagationAllowance']}; app log {run.get('appLog')}"
    )
    # Issue 20's bar. Measured here (2026-12, 81 recorded runs, idle and under CPU load,
    # docs/verify.md "Blame and evidence"): 86-100 % exact or inferred, 75 and 78 % in two of 30
    # runs under two busy loops (time-outs two old pods could both have met), under it only where
    # the engine itself stalled; none of 3723 inferred blames wrong; the true pod always among an
    # unattributed one's candidates.
    assert (exact + inferred) * 10 >= len(outcome.evidence) * 8
    assert right * 10 >= inferred * 8
    assert run["propagationAllowance"]["source"] == "measured"
    # Every replaced pod's log gave its SIGTERM line (followed while it ran: its log goes with
    # it), on this clock between its deletion and its end.
    replaced = [p for p in outcome.report.timeline.pods.values() if p.deleted is not None]
    assert run["appLog"]["sigterm"] == len(replaced) > 0, run["appLog"]
    for life in replaced:
        assert life.deleted is not None and life.gone is not None
        assert life.deleted - 0.1 <= life.stop_signals[0].at <= life.gone, (life.name, life.stop_signals)
    assert covered * 10 >= unattributed * 8
