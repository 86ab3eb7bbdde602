"""``hitless verify`` as a library call: what a local run refuses before anything starts, and the
one emitter a local and a cluster run share. In-process, no engine: each returns at once."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from hitless.api import load, load_text
from hitless.api.types.meta import K8sObject
from hitless.verify import local
from hitless.verify.attribute import RunContext, attribute
from hitless.verify.emit import emit
from hitless.verify.generator import RequestResult
from hitless.verify.local import plan_local, verify_local
from hitless.verify.options import VerifyOptions
from hitless.verify.picking import Picked
from hitless.verify.report import Report
from hitless.verify.result import VerifyInputError
from hitless.verify.timeline import Timeline

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "zero-downtime.yaml"

DAEMONSET = """
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: edge}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: x}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80}]}
"""


def example() -> list[K8sObject]:
    return [o.obj for o in load([str(EXAMPLE)]).applied()]


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        (VerifyOptions(scenario="nope"), "unknown scenario 'nope' (known: rollout, delete-pod,"),
        (
            VerifyOptions(rps=0, path="healthz"),
            "--rps must be a finite number greater than 0 (got 0); --path must start with / (got 'healthz')",
        ),
        (VerifyOptions(lb_preset="nope"), "unknown --lb-preset 'nope' (known: gce, aws-nlb)"),
        (VerifyOptions(scenario="node-drain", nodes=1), "--scenario node-drain needs --nodes 2 or more"),
        (VerifyOptions(service="zzz"), 'services "zzz" not found (the manifests have: web)'),
    ],
)
def test_a_local_run_names_what_it_cannot_verify(opts: VerifyOptions, message: str) -> None:
    problem = plan_local(example(), opts)
    assert isinstance(problem, str) and message in problem


def test_a_daemonset_wants_one_pod_per_node() -> None:
    objects = [o.obj for o in load_text(DAEMONSET).applied()]
    planned = plan_local(objects, VerifyOptions(scenario="delete-pod", nodes=3))
    assert isinstance(planned, Picked) and planned.context.workload == ("DaemonSet", "edge")
    assert planned.context.desired_replicas == 3


def test_bad_options_raise_before_the_engine_namespaces_are_entered(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def refuse() -> None:
        raise AssertionError("bad input must be refused before the engine starts")

    monkeypatch.setattr(local, "enter_engine_namespaces", refuse)
    with pytest.raises(VerifyInputError, match="needs --nodes 2 or more"):
        verify_local(example(), VerifyOptions(scenario="node-drain", nodes=1), log_dir=tmp_path)


def small_report() -> Report:
    timeline = Timeline()
    context = RunContext(service="default/web")
    requests = [
        RequestResult(i, 100.0 + i / 10, True, sent=100.0 + i / 10, done=100.01 + i / 10, status=200)
        for i in range(5)
    ]
    attribution = attribute(requests, [], timeline, context)
    return Report(requests, attribution, [], timeline, 100.0, run={"service": "default/web"})


def test_one_emitter_writes_the_report_dir_and_prints_each_format(tmp_path: Path) -> None:
    report, loaded = small_report(), load([str(EXAMPLE)]).applied()
    out = io.StringIO()
    emit(report, report.to_json(), loaded, output="json", report_dir=tmp_path, picture=False, stdout=out)
    printed = json.loads(out.getvalue())
    assert printed == json.loads((tmp_path / "report.json").read_text())
    assert printed["requests"]["total"] == 5 and printed["verdict"] == "pass"
    assert "<html" in (tmp_path / "report.html").read_text()
    assert not (tmp_path / "timeline.png").exists()  # a cluster run's report has no picture
    # The trailer (a cluster run's server and evidence) ends the text, and only the text.
    for output, start in (("text", report.text()), ("junit", report.junit())):
        out = io.StringIO()
        emit(report, report.to_json(), loaded, output=output, trailer="cluster X\n", stdout=out)
        assert out.getvalue() == start + ("cluster X\n" if output == "text" else "")
