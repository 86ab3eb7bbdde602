"""The report: JSON schema fields, the text summary, JUnit, the picture."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import junitparser

from hitless.proxy.records import ConnectionRecord
from hitless.verify.attribute import RunContext, attribute
from hitless.verify.findings import findings
from hitless.verify.generator import RequestResult
from hitless.verify.picture import write_png
from hitless.verify.report import Report, percentile
from hitless.verify.timeline import ContainerExit, PodLife, StopSignal, Timeline


def build(max_failures: int = 0, incomplete: str | None = None) -> Report:
    life = PodLife("default", "web-a", node="node-1", created=99.0)
    life.started.append((99.2, "web"))
    life.ready.append([100.0, 110.0])
    life.deleted = 110.0
    life.stop_signals.append(StopSignal(110.0, "web", 30))
    life.exits.append(ContainerExit(110.1, "web", 0, False))
    life.gone = 110.2
    life.routed["node-2"] = [[100.1, 111.0]]
    timeline = Timeline({life.key: life}, marks=[(105.0, "rollout 1")])
    requests, records = [], []
    for i in range(200):
        t = 100.0 + i * 0.06
        r = RequestResult(seq=i, intended=t, keepalive=False, client=("127.0.0.1", 30000 + i), sent=t)
        r.done = t + 0.002
        routed = t < 111.0
        if t > 110.0 and routed:
            r.error, r.detail = "reset", "closed before any response byte"
        elif routed:
            r.status = 200
        else:
            r.error = "refused"
        requests.append(r)
        if routed:
            records.append(
                ConnectionRecord(
                    id=i,
                    hop="proxy",
                    node="node-2",
                    service="default/web",
                    port_name="",
                    frontend="nodePort",
                    client=r.client,
                    accepted_at=t,
                    pod="default/web-a",
                    outcome="routed" if t <= 110.0 else "upstream-refused",
                )
            )
    context = RunContext(service="default/web", workload=("Deployment", "web"))
    result = attribute(requests, records, timeline, context)
    return Report(
        requests,
        result,
        findings(result.failures, timeline, context),
        timeline,
        100.0,
        max_failures,
        incomplete=incomplete,
    )


def test_json_has_the_documented_fields() -> None:
    report = build()
    data = json.loads(json.dumps(report.to_json()))
    assert data["schemaVersion"] == 1 and data["verdict"] == "fail"
    assert data["requests"]["total"] == 200
    failed = data["requests"]["failed"]
    assert failed == sum(1 for r in report.requests if r.failed) > 0
    assert {f["cause"] for f in data["failures"]} >= {"terminating-still-routed"}
    first = data["failures"][0]
    assert set(first) >= {"cause", "pod", "node", "time", "phase", "outcome"}
    assert first["time"] > 10.0 and first["pod"] == "default/web-a"
    assert data["findings"][0]["field"].endswith("lifecycle.preStop.sleep.seconds")
    assert data["pods"][0]["stopSignal"] == 10.0 and data["pods"][0]["routedBy"] == {"node-2": [[0.1, 11.0]]}
    assert data["requests"]["latencyMs"]["p50"] == 2.0


def test_verdict_follows_max_failures() -> None:
    assert not build().passed
    assert build(max_failures=10_000).passed


def test_an_incomplete_run_fails_whatever_it_counted() -> None:
    report = build(max_failures=10_000, incomplete="interrupted (SIGINT)")
    assert not report.passed
    data = report.to_json()
    assert data["verdict"] == "fail"
    assert data["run"]["completed"] is False and data["run"]["incomplete"] == "interrupted (SIGINT)"
    assert report.text().startswith("hitless verify: INCOMPLETE: ")
    assert "incomplete: interrupted (SIGINT)" in report.text()


def test_junit_is_read_by_junitparser_and_agrees_with_the_verdict(tmp_path: Path) -> None:
    for report, failing in [(build(), True), (build(max_failures=10_000), False)]:
        path = tmp_path / "verify.xml"
        path.write_text(report.junit())
        (suite,) = list(junitparser.JUnitXml.fromfile(str(path)))
        assert suite.name == "hitless verify" and suite.failures == (len(list(suite)) if failing else 0)
        cases = list(suite)
        assert len(cases) >= 2 and cases[0].name == "no request dropped"
        # Within --max-failures the causes are output, not failures: CI sees the exit code's verdict.
        assert [not case.is_passed for case in cases] == [failing] * len(cases)


def test_text_and_junit() -> None:
    report = build()
    text = report.text()
    assert text.startswith("hitless verify: FAIL: ")
    assert "terminating-still-routed" in text and "preStop sleep ≥" in text
    suites = ET.fromstring(report.junit().split("\n", 1)[1])
    (suite,) = list(suites)
    assert suites.tag == "testsuites" and int(suite.get("failures") or 0) >= 2
    names = [c.get("name") for c in suite.iter("testcase")]
    assert names[0] == "no request dropped" and "terminating-still-routed" in names


def test_picture(tmp_path: Path) -> None:
    path = tmp_path / "timeline.png"
    write_png(build(), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_percentile_is_nearest_rank() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2
    assert percentile([1, 2, 3, 4], 99) == 4
    assert percentile([], 50) is None


def test_json_carries_the_rate_and_latency_bins_and_each_failures_connection() -> None:
    report = build()
    data = report.to_json()
    rate, failed = data["rate"], data["requests"]["failed"]
    assert rate["binSeconds"] == 0.1 and rate["start"] == 0.0
    assert sum(rate["sent"]) == 200 and sum(rate["failed"]) == failed
    # One request every 60 ms: each 100 ms bin has one or two.
    assert set(rate["sent"]) == {1, 2}
    # The failures are the requests sent after 10 s (the deletion): from the bin [10.0, 10.1) on.
    assert min(i for i, n in enumerate(rate["failed"]) if n) == 100
    hist = data["requests"]["latencyHistogram"]
    assert len(hist["edgesMs"]) == len(hist["succeeded"]) + 1 == len(hist["failed"]) + 1
    # Every request took 2 ms: the bin [1.585, 2.512) holds them all.
    [bin_] = [i for i, n in enumerate(hist["succeeded"]) if n]
    assert hist["edgesMs"][bin_] <= 2.0 < hist["edgesMs"][bin_ + 1]
    assert hist["succeeded"][bin_] == 200 - failed and hist["failed"][bin_] == failed
    for f in data["failures"]:
        assert f["connection"] == f"127.0.0.1:{30000 + f['seq']}" and f["reused"] is False
