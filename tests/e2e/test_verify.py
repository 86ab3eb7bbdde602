"""``hitless verify`` as a user runs it: real rollouts of real processes under real load.

Each run is a subprocess of the CLI, as ``hitless up`` is run in test_cli.py; the assertions read
its exit code, its stdout (text, JSON, JUnit) and ``--report DIR``. Runs are kept short (one
round, 100 requests/s) except the zero-downtime one, which is the acceptance run of the issue.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import junitparser
import pytest

from hitless.verify.html import render_html

from .test_cli import descendants, still_alive
from .verify_runs import EXAMPLES, HITLESS, ROOT, run_verify, zero_downtime_run

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The agreement parameters of tests/check/test_examples.py: a fixed propagation, so that a run's
# numbers do not depend on the sync runner's timing; one round; fresh connections.
SHORT = ("--repeat", "1", "--rps", "100", "--connections", "close", "--propagation-delay", "1.5")


def test_the_zero_downtime_example_passes_three_rollouts_at_200_rps() -> None:
    run = zero_downtime_run()
    assert run.code == 0, run.describe()
    printed = json.loads(run.stdout)
    report = run.report
    assert printed == report
    assert report["verdict"] == "pass" and report["schemaVersion"] == 1
    assert report["run"]["repeat"] == 3 and report["run"]["rps"] == 200 and report["run"]["completed"]
    requests = report["requests"]
    assert (
        requests["total"] >= 3000 and requests["failed"] == 0 and requests["succeeded"] == requests["total"]
    )
    assert report["failures"] == [] and report["findings"] == [] and report["causes"] == {}
    assert set(requests["byOutcome"]) == {"200"}
    # 3 rollouts of 3 replicas: 12 pods in all, and the load reached pods of every generation.
    assert len(report["pods"]) == 12
    assert sum(1 for counts in requests["byPod"].values() if counts["total"] > 0) >= 9
    assert [m["what"] for m in report["marks"]] == ["rollout 1", "rollout 2", "rollout 3"]
    for pod in report["pods"][:9]:  # every replaced pod: deleted, signalled, exited cleanly, gone
        assert pod["deleted"] is not None and pod["stopSignal"] is not None and pod["gone"] is not None
        assert pod["deleted"] < pod["stopSignal"] < pod["gone"] and pod["killed"] is None
        assert [e["exitCode"] for e in pod["exits"]] == [0]
        # Its node's proxy stopped routing to it before it got its stop signal: the preStop sleep
        # (2 s) covered the propagation.
        assert all(
            spans[-1][1] is not None and spans[-1][1] < pod["stopSignal"]
            for spans in pod["routedBy"].values()
        )
    latency = requests["latencyMs"]
    assert 10 <= latency["p50"] <= latency["p99"] <= latency["max"] < 3000
    png = (run.report_dir / "timeline.png").read_bytes()
    assert png.startswith(PNG_SIGNATURE) and len(png) > 10_000
    # report.html is drawn from report.json alone (tests/verify/test_html.py checks it in Chromium).
    assert (run.report_dir / "report.html").read_text(encoding="utf-8") == render_html(report)


def test_bad_input_exits_2_before_anything_starts(tmp_path: Path) -> None:
    pod_only = tmp_path / "pod.yaml"
    pod_only.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web, labels: {app: web}}\n"
        "spec: {containers: [{name: web, image: hitless, args: [demo-app]}]}\n---\n"
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
        "spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}\n"
    )
    no_service = tmp_path / "no-service.yaml"
    no_service.write_text(pod_only.read_text().split("---")[0])
    for args, message in [
        ((str(no_service),), "no Service to load"),
        ((str(pod_only),), "--scenario rollout needs a Deployment"),
        ((str(pod_only), "--scenario", "node-drain"), "needs a Deployment"),
        ((str(EXAMPLES / "zero-downtime.yaml"), "--lb-preset", "nope"), "unknown --lb-preset"),
        ((str(tmp_path / "missing.yaml"),), ""),
    ]:
        run = run_verify(*args, report_dir=tmp_path / "report", timeout=30)
        assert run.code == 2, run.describe()
        assert message in run.stderr
        assert not (tmp_path / "report" / "report.json").exists()


# A plain third-party server: Python's http.server, which dies at once of SIGTERM. As PID 1 of its
# PID namespace it would never get the signal (no handler), so it runs under hitless init, as
# images run under tini. Nothing in it knows about hitless: the verdict comes from the hops'
# connection records and the pods' lifecycle only.
HTTP_SERVER = """
apiVersion: apps/v1
kind: Deployment
metadata: {{name: files}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: files}}}}
  strategy: {{type: RollingUpdate, rollingUpdate: {{maxUnavailable: 0, maxSurge: 1}}}}
  template:
    metadata: {{labels: {{app: files}}}}
    spec:
      terminationGracePeriodSeconds: 10
      containers:
      - name: files
        image: python:3.11
        command: [hitless, init, -e, "143", --, python3, -m, http.server, "8000", --directory, "{root}"]
        ports: [{{name: http, containerPort: 8000}}]
        readinessProbe: {{tcpSocket: {{port: http}}, periodSeconds: 1}}
{lifecycle}
---
apiVersion: v1
kind: Service
metadata: {{name: files}}
spec:
  selector: {{app: files}}
  ports: [{{port: 80, targetPort: http}}]
"""
PRE_STOP = "        lifecycle: {preStop: {sleep: {seconds: 3}}}"


def http_server(tmp_path: Path, pre_stop: bool) -> Path:
    root = tmp_path / "www"
    root.mkdir(exist_ok=True)
    (root / "index.html").write_text("<p>hello</p>\n")
    path = tmp_path / ("with-prestop.yaml" if pre_stop else "without-prestop.yaml")
    path.write_text(HTTP_SERVER.format(root=root, lifecycle=PRE_STOP if pre_stop else ""))
    return path


def test_http_server_without_prestop_drops_requests_still_routed_after_sigterm(tmp_path: Path) -> None:
    run = run_verify(str(http_server(tmp_path, pre_stop=False)), *SHORT, "--format", "junit")
    assert run.code == 1, run.describe()
    report = run.report
    causes = report["causes"]
    failed = report["requests"]["failed"]
    assert failed > 0
    # A request in flight at the very moment of SIGTERM is cut with the server (listener-closed);
    # everything else that failed was routed to a pod after its stop signal.
    assert set(causes) <= {"terminating-still-routed", "listener-closed"}, run.describe()
    assert causes["terminating-still-routed"] >= 0.9 * failed, causes
    for failure in report["failures"]:
        assert failure["pod"].startswith("default/files-") and failure["node"] in ("node-1", "node-2")
        assert failure["phase"] in ("stopping", "stopped", "gone", "ready", "terminating")
    finding = next(f for f in report["findings"] if f["cause"] == "terminating-still-routed")
    assert finding["object"] == "Deployment/files"
    assert finding["field"] == "spec.template.spec.containers[0].lifecycle.preStop.sleep.seconds"
    assert int(finding["value"]) >= 2  # the propagation is 1.5 s
    # The JUnit document, as CI tools read it: one failing case per cause.
    xml = junitparser.JUnitXml.fromstring(run.stdout)
    cases = {case.name: case for suite in xml for case in suite}
    assert "no request dropped" in cases and "terminating-still-routed" in cases
    assert not cases["terminating-still-routed"].is_passed


def test_http_server_with_a_prestop_sleep_drops_nothing(tmp_path: Path) -> None:
    run = run_verify(str(http_server(tmp_path, pre_stop=True)), *SHORT)
    assert run.code == 0, run.describe()
    report = run.report
    assert report["requests"]["failed"] == 0 and report["requests"]["total"] > 500
    assert run.stdout.startswith("hitless verify: PASS: 0 of ")
    # The old pods did die of SIGTERM (under hitless init, -e 143 maps it to 0), after the sleep.
    replaced = [p for p in report["pods"] if p["deleted"] is not None and p["deleted"] < 5]
    assert len(replaced) == 2
    for pod in replaced:
        assert pod["stopSignal"] - pod["deleted"] == pytest.approx(3, abs=0.5)
        assert pod["killed"] is None


LIVENESS = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: live}
spec:
  replicas: 2
  selector: {matchLabels: {app: live}}
  template:
    metadata: {labels: {app: live}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: web
        image: hitless
        # --startup-delay: the restarted container listens 1 s after it starts, so the drop window
        # does not hang on how fast a loaded machine restarts it (0.3 s once: no request met it).
        args: [demo-app, --port=8080, --latency=0.01:0.05, --request-log=none, --startup-delay=1]
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {httpGet: {path: /readyz, port: http}, periodSeconds: 1, failureThreshold: 1}
        # Two failures, and 2 s each: one probe slowed by a busy machine must not restart a pod.
        livenessProbe:
          httpGet: {path: /healthz, port: http}
          periodSeconds: 1
          timeoutSeconds: 2
          failureThreshold: 2
---
apiVersion: v1
kind: Service
metadata: {name: live}
spec:
  selector: {app: live}
  ports: [{port: 80, targetPort: http}]
"""


def test_a_liveness_restart_drops_what_the_stopping_container_was_still_sent(tmp_path: Path) -> None:
    path = tmp_path / "live.yaml"
    path.write_text(LIVENESS)
    run = run_verify(str(path), *SHORT, "--scenario", "liveness-restart")
    assert run.code == 1, run.describe()
    report = run.report
    assert "liveness failure of pod/live-" in run.stderr
    # The pod whose container exited before the pod was deleted at the end of the run.
    [restarted] = [p for p in report["pods"] if any(e["time"] < p["deleted"] for e in p["exits"])]
    assert len(restarted["stopSignals"]) == 2  # the liveness kill's, and the final deletion's
    causes = report["causes"]
    # The container closed its listener at SIGTERM while the pod was still an endpoint: the
    # readiness probe and then the proxies learn of it only afterwards. Until the pod is Ready
    # again, whatever reaches it fails for that one reason.
    assert set(causes) == {"listener-closed"}, run.describe()
    assert {f["pod"] for f in report["failures"]} == {restarted["pod"]}
    restart = restarted["stopSignals"][0]["time"]
    assert all(f["time"] > restart - 1 for f in report["failures"])
    [finding] = report["findings"]
    assert finding["field"] == "spec.template.spec.containers[0].readinessProbe"
    assert finding["message"].startswith("a restarted container must keep serving ≥ ")


def test_a_node_drain_moves_the_pods_without_dropping_a_request() -> None:
    run = run_verify(str(EXAMPLES / "zero-downtime.yaml"), *SHORT, "--scenario", "node-drain")
    assert run.code == 0, run.describe()
    report = run.report
    assert report["requests"]["failed"] == 0
    [mark] = report["marks"]
    evicted = [p for p in report["pods"] if p["deleted"] is not None and p["deleted"] < mark["time"] + 1]
    created = [p for p in report["pods"] if p["created"] > mark["time"]]
    drained = {p["node"] for p in evicted}
    # The node that ran most pods (node-1, by the scheduler's spreading) was emptied, and while it
    # was cordoned every replacement went to the other node.
    assert drained == {"node-1"} and len(evicted) == 2, report["pods"]
    assert len(created) == 2 and {p["node"] for p in created} == {"node-2"}
    assert "drain node/node-1 (2 pods evicted), uncordon" in run.stderr


def test_ctrl_c_stops_gracefully_reports_what_was_measured_and_leaves_no_process(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            *HITLESS,
            "verify",
            str(EXAMPLES / "zero-downtime.yaml"),
            "--repeat",
            "3",
            "--report",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stderr is not None
        err = ""
        deadline = time.monotonic() + 60
        while "requests/s to" not in err and time.monotonic() < deadline:
            err += proc.stderr.readline()
        assert "requests/s to" in err, err
        time.sleep(1.0)
        procs = descendants(proc.pid)
        assert len(procs) >= 8, procs  # the engine, its PID 1, the pods' sandboxes and containers
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, rest = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    # The pods' own shutdown (preStop 2 s, drain 1 s) and no more.
    assert time.monotonic() - started < 15
    assert proc.returncode == 1, err + rest
    assert "SIGINT: stopping the load" in rest and "Traceback" not in rest
    assert out.startswith("hitless verify: INCOMPLETE: ")
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["verdict"] == "fail" and report["run"]["completed"] is False
    assert report["run"]["incomplete"] == "interrupted by SIGINT"
    assert report["requests"]["total"] > 0 and report["requests"]["byOutcome"].get("pending") is None
    assert still_alive(procs) == set()
