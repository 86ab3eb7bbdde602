"""Cluster mode's scenarios end to end against the engine's own API server (in this process, as
test_cluster_truth.py builds it): delete-pod, scale-down, liveness-restart through the API
server's pod proxy, node-drain held by a PodDisruptionBudget and then let through, and a
StatefulSet's and a DaemonSet's rollout, each run with only what the API shows. The six runs go
at once, each in its own throwaway namespace (fresh connections: every pod gets load)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from hitless.api import load
from hitless.api.types.node import Node
from hitless.apiserver.kubeconfig import Kubeconfig
from hitless.apiserver.server import ApiServer
from hitless.runtime.linux.procfs import has_cap_sys_admin
from hitless.verify.cluster import run_cluster
from hitless.verify.clusterview import EXACT, INFERRED
from hitless.verify.join import join
from hitless.verify.options import ClusterTarget, VerifyOptions
from hitless.verify.result import Result
from tests.e2e.conftest import cluster_of

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not has_cap_sys_admin(), reason="the engine needs root (namespaces)"),
]

# The demo app with a liveness probe that gives up after one failed second, and a budget that
# lets one of the three pods go at a time.
MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  strategy: {rollingUpdate: {maxUnavailable: 0, maxSurge: 1}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: web
        image: hitless:0.1.0
        args: [demo-app, --port=8080, --on-sigterm=drain, --shutdown-delay=0.5, --drain-timeout=1]
        ports: [{name: http, containerPort: 8080}]
        env:
        - name: POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        readinessProbe: {httpGet: {path: /readyz, port: http}, periodSeconds: 1, failureThreshold: 1}
        # One failure kills (the scenario's /control makes /healthz answer 500 at once); the long
        # timeout keeps a probe that a loaded machine answers late from killing a second time.
        livenessProbe:
          {httpGet: {path: /healthz, port: http}, periodSeconds: 1, failureThreshold: 1, timeoutSeconds: 10}
        lifecycle: {preStop: {sleep: {seconds: 1}}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web}
spec:
  maxUnavailable: 1
  selector: {matchLabels: {app: web}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
"""
# Two replicas started and rolled in parallel-free order (a StatefulSet rolls one pod at a time).
STATEFULSET = """\
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 2
  podManagementPolicy: Parallel
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: db
        image: hitless:0.1.0
        args: [demo-app, --port=8080, --on-sigterm=drain, --shutdown-delay=0.5, --drain-timeout=1]
        ports: [{name: http, containerPort: 8080}]
        env:
        - name: POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        readinessProbe: {httpGet: {path: /readyz, port: http}, periodSeconds: 1, failureThreshold: 1}
        lifecycle: {preStop: {sleep: {seconds: 1}}}
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  selector: {app: db}
  ports: [{port: 80, targetPort: http}]
"""
DAEMONSET = """\
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: edge}
spec:
  selector: {matchLabels: {app: edge}}
  updateStrategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  template:
    metadata: {labels: {app: edge}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: edge
        image: hitless:0.1.0
        args: [demo-app, --port=8080, --on-sigterm=drain, --shutdown-delay=0.5, --drain-timeout=1]
        ports: [{name: http, containerPort: 8080}]
        env:
        - name: POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        readinessProbe: {httpGet: {path: /readyz, port: http}, periodSeconds: 1, failureThreshold: 1}
        lifecycle: {preStop: {sleep: {seconds: 1}}}
---
apiVersion: v1
kind: Service
metadata: {name: edge}
spec:
  selector: {app: edge}
  ports: [{port: 80, targetPort: http}]
"""


async def test_each_scenario_runs_through_the_api_of_the_local_engine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "web.yaml").write_text(MANIFEST)
    (tmp_path / "db.yaml").write_text(STATEFULSET)
    (tmp_path / "edge.yaml").write_text(DAEMONSET)
    async with cluster_of(tmp_path, nodes=2) as c:
        server = ApiServer(
            c.engine.store, c.clock, c.log_dir, "127.0.0.1", 0, dial=c.engine.network.open_connection
        )
        await server.start()
        server.spawn()
        try:
            assert server.credentials is not None
            kubeconfig = Kubeconfig.write(server.url, server.credentials, tmp_path / "kubeconfig")

            outcomes: dict[tuple[str, str], Result] = {}

            async def run(scenario: str, file: str = "web.yaml", kind: str = "Deployment") -> dict[str, Any]:
                loaded = load([str(tmp_path / file)]).applied()
                name = next(o.name for o in loaded if o.kind == kind)
                opts = VerifyOptions(
                    rps=30,
                    repeat=1,
                    connections="close",
                    scenario=scenario,
                    workload=f"{kind}/{name}",
                    cluster=ClusterTarget(str(kubeconfig.path), allow_node_drain=True),
                )
                outcome = await run_cluster(loaded, opts, c.clock)
                outcomes[scenario, kind] = outcome
                return outcome.document()

            scenarios = ("delete-pod", "scale-down", "liveness-restart", "node-drain")
            done = await asyncio.gather(
                *map(run, scenarios),
                run("rollout", "db.yaml", "StatefulSet"),
                run("rollout", "edge.yaml", "DaemonSet"),
            )
            reports = dict(zip((*scenarios, "statefulset", "daemonset"), done, strict=True))
            # Uncordoned again after the drain.
            assert not any(
                n.spec.unschedulable for n in c.engine.store.objects("Node") if isinstance(n, Node)
            )
            # The engine's own proxy records of the liveness round: the pod each failed request
            # really reached (test_cluster_truth.py's ground truth).
            restarted = outcomes["liveness-restart", "Deployment"].report
            assert restarted is not None
            truth = {
                r.seq: route.pod
                for r, route in zip(
                    restarted.requests, join(restarted.requests, c.engine.connections.records), strict=True
                )
            }
        finally:
            await server.stop()
    err = capsys.readouterr().err
    for key, report in reports.items():
        scenario = "rollout" if key in ("statefulset", "daemonset") else key
        assert report["run"]["scenario"] == scenario and report["run"]["completed"], (key, report["run"])
        assert [m["what"] for m in report["marks"]] == [f"{scenario} 1"]

    # delete-pod: the oldest pod deleted, its replacement Ready before the round ended.
    deleted = [p for p in reports["delete-pod"]["pods"] if p["deleted"] is not None]
    assert len(deleted) == 1, reports["delete-pod"]["pods"]
    assert f"delete-pod 1: delete pod/{deleted[0]['pod'].split('/')[-1]}: settled" in err
    assert len(reports["delete-pod"]["pods"]) == 4

    # scale-down: 3 → 2 (one pod deleted and gone) → 3 (a new one Ready).
    assert "scale-down 1: scale deployment/web 3 → 2 → 3: settled" in err
    scaled = reports["scale-down"]["pods"]
    assert len(scaled) == 4 and sum(p["deleted"] is not None for p in scaled) == 1

    # A StatefulSet's rollout restart, awaited by kubectl's StatefulSetStatusViewer: both pods
    # replaced, the highest ordinal first and one at a time.
    assert "rollout 1: rollout restart statefulset/db: settled" in err
    # Each pod recreated under its name is a pod of its own in the report (keyed by UID), the
    # new one created after the old one was gone.
    lives: dict[str, list[dict[str, Any]]] = {}
    for p in reports["statefulset"]["pods"]:
        lives.setdefault(p["pod"].split("/")[-1], []).append(p)
    assert sorted(lives) == ["db-0", "db-1"] and all(len(v) == 2 for v in lives.values()), lives
    for old, new in lives.values():
        assert old["deleted"] is not None and old["gone"] is not None and new["deleted"] is None, lives
        assert new["created"] >= old["gone"] and new["ready"], lives
    assert lives["db-1"][0]["deleted"] < lives["db-0"][0]["deleted"]

    # A DaemonSet's, awaited by kubectl's DaemonSetStatusViewer: each node's pod replaced, the new
    # one first (maxSurge 1), so four pods lived.
    assert "rollout 1: rollout restart daemonset/edge: settled" in err
    edge = reports["daemonset"]["pods"]
    assert len(edge) == 4 and sum(p["deleted"] is not None for p in edge) == 2, edge

    # liveness-restart: the kubelet killed the container for its liveness probe and it came back
    # Ready in the same pod (no pod deleted).
    assert "liveness-restart 1: liveness failure of pod/web-" in err and "(container web): restarted" in err
    assert not any(p["deleted"] for p in reports["liveness-restart"]["pods"])
    # The restart as the API showed it: the kubelet's Killing Event, dated by its name, then the
    # stop signal (preStop 1 s later, or the app's SIGTERM line), the exit and the new instance.
    live = reports["liveness-restart"]
    assert len(live["cluster"]["restarts"]) == 1, (live["cluster"]["restarts"], live["pods"])
    (kill,) = live["cluster"]["restarts"]
    assert kill["stampedBy"] == "event-name" and "failed liveness probe" in kill["message"], kill
    (restarted,) = [p for p in live["pods"] if p["stopSignals"]]
    assert restarted["pod"] == kill["pod"] and len(restarted["exits"]) == 1, restarted
    assert kill["time"] < restarted["stopSignals"][0]["time"] <= restarted["exits"][0]["time"], restarted
    # The app's SIGTERM line, read from the killed instance's log, dates that stop signal.
    assert live["cluster"]["appLog"]["sigterm"] == 1, live["cluster"]["appLog"]
    # Its failures, if any, are blamed as locally: listener-closed on the restarted pod, with
    # evidence; the restart's finding names the readiness probe. (This run's traffic may see
    # none: the synthetic tests in test_clusterview_lives.py carry the proof of the rule.)
    for failure in live["failures"]:
        if failure["evidence"] in (EXACT, INFERRED):
            assert (failure["cause"], failure["pod"]) == ("listener-closed", kill["pod"]), failure
        if failure["evidence"] == EXACT:
            assert failure["pod"] == truth[failure["seq"]], failure
    if any(f["evidence"] in (EXACT, INFERRED) for f in live["failures"]):
        assert [f["field"] for f in live["findings"]] == ["spec.template.spec.containers[0].readinessProbe"]
    print(
        "liveness-restart:",
        [(f["evidence"], f["cause"], f["phase"], f["pod"] == truth[f["seq"]]) for f in live["failures"]],
        live["cluster"]["restarts"],
        [p["stopSignals"] for p in live["pods"] if p["stopSignals"]],
        [f["message"] for f in live["findings"]],
    )

    # node-drain: the node with two of the three pods; the budget let one go, refused the other
    # (429) until a replacement was Ready, and kubectl's 5 s retry then evicted it.
    assert "(will retry after 5s): Cannot evict pod as it would violate the pod's disruption budget." in err
    assert "2 pods evicted; 1 eviction(s) refused by a PodDisruptionBudget and retried), uncordon" in err
    drained = reports["node-drain"]["pods"]
    evictions = sorted(p["deleted"] for p in drained if p["deleted"] is not None)
    # kubectl retried 5 s after the 429; each deletion is dated by the watch event's arrival, whose
    # latency differs from one to the next on a loaded machine: a generous bound, not 5.0.
    assert len(evictions) == 2 and evictions[1] - evictions[0] >= 4.0, evictions
