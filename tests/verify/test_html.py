"""report.html: rendered from report.json, checked in headless Chromium.

One browser serves every page of this module (its start is the cost): the example's report (a real
``hitless verify`` run, tests/verify/fixtures/README.md says how it was made), a synthetic one with
30 000 requests and 3 000 failures, one whose names and texts try to inject HTML, and three
controls that must trip the checks (a page that loads from the network with and without the CSP,
a page whose script throws): so the checks are shown able to fail.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from hitless.api.loader import load
from hitless.verify.html import render_html
from hitless.verify.html_svg import MAX_MARKS, PHASES, cause_colour, phase_at
from hitless.verify.sources import locate

from . import chromium
from .synthetic import large_report

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).parent / "fixtures" / "no-prestop-report.json"
LEAK = '<img src="http://127.0.0.1:9/leak.png">'

# What the page drew, in CSS pixels of the rendered page.
PROBE = r"""JSON.stringify((() => {
  const box = el => { const r = el.getBoundingClientRect();
    return {x: r.x + r.width / 2, left: r.left, right: r.right, top: r.top, bottom: r.bottom}; };
  const tip = el => { el.dispatchEvent(new MouseEvent('mouseover', {bubbles: true}));
    return document.getElementById('tip').textContent; };
  const q = s => [...document.querySelectorAll(s)];
  const mark = document.querySelector('#timeline circle.fail');
  const seg = document.querySelector('#timeline rect.seg');
  return {
    // hit: what the pointer would hover at the mark's centre is a failure mark (nothing covers it);
    // a mark below the window is scrolled to first (elementFromPoint sees the viewport only).
    marks: q('#timeline circle.fail').map(c => ({f: +c.dataset.f, i: +c.dataset.i,
      fill: c.getAttribute('fill'), ...box(c), hit: (() => {
        if (box(c).bottom > innerHeight) c.scrollIntoView({block: 'center'});
        const b = box(c), hit = document.elementFromPoint(b.x, (b.top + b.bottom) / 2);
        window.scrollTo(0, 0);
        return !!hit?.matches('circle.fail'); })()})),
    ticks: q('#timeline g.tick').map(g => ({t: +g.dataset.t, ...box(g.querySelector('line'))})),
    lanes: q('#timeline g.lane').map(g => ({pod: g.dataset.pod, ...box(g)})),
    segs: q('#timeline g.lane').map(g => ({pod: g.dataset.pod,
      phases: [...g.querySelectorAll('rect.seg')].map(r => ({phase: r.dataset.phase, ...box(r)}))})),
    cuts: q('#timeline g.lane').map(g => ({pod: g.dataset.pod,
      cuts: [...g.querySelectorAll('rect.cut')].map(r => ({node: r.dataset.node, ...box(r)}))})),
    markTip: mark ? tip(mark) : null,
    tips: q('#timeline circle.fail').slice(0, 40).map(c => ({i: +c.dataset.i, text: tip(c)})),
    gaps: q('#timeline rect.gap').map(r => ({tip: r.dataset.tip, ...box(r)})),
    segTip: seg ? tip(seg) : null,
    images: document.images.length,
    scripts: document.scripts.length,
    pwned: window.__pwned || null,
    text: document.body.innerText,
  };
})())"""


@functools.cache
def large() -> dict[str, Any]:
    return large_report()


def example() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FIXTURE.read_text())
    return data


def hostile() -> dict[str, Any]:
    """The example with every string the manifests or the app control turned into markup."""
    data = example()
    evil = '<img src=x onerror="window.__pwned=1">'
    data["run"]["service"] = f'"><script>window.__pwned=2</script>{evil}'
    data["pods"][0]["pod"] = f"default/{evil}"
    data["pods"][0]["node"] = "</text><script>window.__pwned=3</script>"
    data["marks"][0]["what"] = "<svg onload=window.__pwned=4>"
    for f in data["failures"]:
        f["pod"] = data["pods"][0]["pod"]
        f["detail"] = "</script><script>window.__pwned=5</script>"
        f["reason"] = f"{evil} <!-- </script>"
    finding = data["findings"][-1]
    finding["message"] = f"<b onmouseover=window.__pwned=6>{evil}</b>"
    finding["source"]["excerpt"]["lines"][0] = "<script>window.__pwned=7</script>"
    data["causes"] = {f'<i onclick="x">{k}': v for k, v in data["causes"].items()}
    data["requests"]["latencyMs"]["<img src=x onerror=window.__pwned=8>"] = 50.0
    routed = data["pods"][0]["routedBy"]
    routed['<img src=x onerror="window.__pwned=9">'] = routed.pop(sorted(routed)[0])
    data["requests"]["byOutcome"] = {evil: 1}
    return data


def cluster_mode() -> dict[str, Any]:
    """The example as a cluster run's report.json would have it (verify/result.py Result.document()):
    no proxy records, an evidence per failure, the ``cluster`` section."""
    data = example()
    pods = [p["pod"] for p in data["pods"]]
    evidence = ("exact-connection", "exact-app-log", "inferred", "unattributed")
    for k, f in enumerate(data["failures"]):
        f.update(node="", evidence=evidence[k % 4], candidates=[])
        if f["evidence"] == "unattributed":
            f.update(pod=None, cause="other", phase=None, candidates=pods[:2])
    for pod in data["pods"]:
        pod["routedBy"] = {}
    counts: dict[str, int] = {}
    for f in data["failures"]:
        counts[f["evidence"]] = counts.get(f["evidence"], 0) + 1
    data["causes"] = {}
    for f in data["failures"]:
        data["causes"][f["cause"]] = data["causes"].get(f["cause"], 0) + 1
    data["mode"] = "cluster"
    data["cluster"] = {
        "mode": "cluster",
        "server": "https://127.0.0.1:6443",
        "serverVersion": "v1.34.1",
        "namespace": "hitless-verify-1a2b3c4d",
        "runId": "1a2b3c4d",
        "target": {"address": "127.98.95.171:80", "through": "ClusterIP"},
        "gaps": [
            {"resource": "pods", "start": 1.5, "end": 1.75, "why": "watch closed by the server"},
            {"resource": "events", "start": 3.0, "end": 3.02, "why": "410 Expired: too old resource version"},
        ],
        "evidence": counts,
        "propagation": {pods[0]: 0.418, pods[1]: 0.251},
        "restarts": [
            {
                "pod": pods[0],
                "uid": "u1",
                "container": "web",
                "time": 2.5,
                "stampedBy": "event-name",
                "message": "Container web failed liveness probe, will be restarted",
            }
        ],
        "cleanup": {
            "namespace": "hitless-verify-1a2b3c4d",
            "deleted": False,
            "left": "still Terminating 120 s after its DELETE",
            "command": "kubectl delete namespace hitless-verify-1a2b3c4d",
        },
    }
    return data


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, chromium.PageRun]:
    binary = chromium.find()
    if binary is None:
        pytest.skip("the HTML report tests need Chromium (apt-get install chromium; .ci/run does)")
    out = tmp_path_factory.mktemp("html")
    page = render_html(example())
    files = {
        "example": page,
        "large": render_html(large()),
        "hostile": render_html(hostile()),
        "cluster": render_html(cluster_mode()),
        "leak-csp": page.replace("</main>", LEAK + "</main>"),
        "leak": page.replace("</main>", LEAK + "</main>").replace('http-equiv="Content-Security-Policy"', ""),
        "throws": page.replace("</main>", "<script>window.noSuchFunction()</script></main>"),
    }
    browser = chromium.Chromium(binary)
    try:
        runs = {}
        for name, html in files.items():
            (out / f"{name}.html").write_text(html, encoding="utf-8")
            runs[name] = browser.open(out / f"{name}.html", PROBE)
            runs[name].value = {**runs[name].value, "size": len(html.encode())}
        return runs
    finally:
        browser.close()


def to_x(ticks: list[dict[str, float]]) -> Any:
    """The page's own axis: seconds to rendered x, from its first and last tick."""
    first, last = ticks[0], ticks[-1]
    scale = (last["x"] - first["x"]) / (last["t"] - first["t"])
    return lambda t: first["x"] + (t - first["t"]) * scale


def test_the_example_renders_with_no_error_and_no_request_leaving_the_file(
    pages: dict[str, chromium.PageRun],
) -> None:
    run = pages["example"]
    assert run.errors() == [] and run.external_requests() == [], (run.errors(), run.requests)
    assert run.requests == [run.url]
    assert run.value["size"] < 60_000


def test_the_checks_catch_a_page_that_loads_from_the_network_or_throws(
    pages: dict[str, chromium.PageRun],
) -> None:
    # Without the page's CSP the browser fetches; with it the browser refuses and says so.
    assert "http://127.0.0.1:9/leak.png" in pages["leak"].external_requests()
    assert any("Content Security Policy" in e for e in pages["leak-csp"].errors()), pages["leak-csp"].errors()
    assert any("noSuchFunction" in e for e in pages["throws"].errors()), pages["throws"].errors()


def test_failure_marks_are_where_report_json_puts_them(pages: dict[str, chromium.PageRun]) -> None:
    data, drawn = example(), pages["example"].value
    failures = data["failures"]
    x = to_x(drawn["ticks"])
    lanes = {lane["pod"]: lane for lane in drawn["lanes"]}
    assert len(drawn["marks"]) == len(failures) > 0
    assert sorted(m["i"] for m in drawn["marks"]) == list(range(len(failures)))
    for mark in drawn["marks"]:
        failure = failures[mark["i"]]
        assert mark["x"] == pytest.approx(x(failure["time"]), abs=1.0), failure
        lane = lanes[failure["pod"]]
        assert lane["top"] <= mark["top"] and mark["bottom"] <= lane["bottom"], (failure, lane, mark)
        assert mark["fill"] == cause_colour(failure["cause"]) and mark["hit"], (failure, mark)
    # Hovering a mark shows its request.
    first = failures[drawn["marks"][0]["i"]]
    for text in (
        f"request #{first['seq']}",
        first["cause"],
        first["connection"],
        first["pod"],
        first["node"],
    ):
        assert text in drawn["markTip"]


def test_lanes_show_each_pods_phases_and_each_nodes_cut_off(pages: dict[str, chromium.PageRun]) -> None:
    data, drawn = example(), pages["example"].value
    x = to_x(drawn["ticks"])
    segs = {lane["pod"]: lane["phases"] for lane in drawn["segs"]}
    cuts = {lane["pod"]: lane["cuts"] for lane in drawn["cuts"]}
    assert list(segs) == [p["pod"] for p in data["pods"]]
    for pod in data["pods"]:
        ready = [s for s in segs[pod["pod"]] if s["phase"] == "ready"]
        assert ready and ready[0]["left"] == pytest.approx(x(pod["ready"][0][0]), abs=1.0)
        if pod["deleted"] is not None:
            # Ready until the deletion, then the deletion's phases in order.
            assert ready[-1]["right"] == pytest.approx(x(pod["deleted"]), abs=1.0)
            after = [s["phase"] for s in segs[pod["pod"]] if s["left"] >= ready[-1]["right"] - 0.5]
            assert after and set(after) <= {"terminating", "stopping", "killed", "stopped"}
        ends = sorted((node, end) for node, spans in pod["routedBy"].items() for _, end in spans if end)
        assert sorted(c["node"] for c in cuts[pod["pod"]]) == [node for node, _ in ends]
        for cut in cuts[pod["pod"]]:
            [end] = [e for node, e in ends if node == cut["node"]]
            assert cut["x"] == pytest.approx(x(end), abs=1.5)
    assert any(label in drawn["segTip"] for _, label in PHASES.values())


def test_the_page_says_what_report_json_says(pages: dict[str, chromium.PageRun]) -> None:
    data, text = example(), pages["example"].value["text"]
    assert "FAIL" in text and f"{data['requests']['total']}" in text
    for finding in data["findings"]:
        assert finding["message"] in text
        if finding["source"]:
            assert f"{finding['source']['file']}:{finding['source']['line']}" in text
            assert finding["field"] in text
    for cause in data["causes"]:
        assert cause in text
    for node in {n for pod in data["pods"] for n in pod["routedBy"]}:
        assert f"routed by {node}" in text  # the legend names each node's strip
    assert f"{data['requests']['latencyMs']['p99']:.1f} ms" in text


def test_thousands_of_requests_stay_small_and_cap_the_marks(pages: dict[str, chromium.PageRun]) -> None:
    run = pages["large"]
    assert run.errors() == [] and run.external_requests() == []
    drawn = run.value
    data = large()
    failures = data["failures"]
    assert len(drawn["marks"]) == MAX_MARKS < len(failures)
    assert f"{MAX_MARKS} of the {len(failures)} failures drawn" in drawn["text"]
    assert drawn["size"] < 600_000
    x = to_x(drawn["ticks"])
    for mark in drawn["marks"]:
        assert mark["x"] == pytest.approx(x(failures[mark["i"]]["time"]), abs=1.0)
    # The sample spans the run: the first and the last failure are drawn.
    assert min(m["i"] for m in drawn["marks"]) == 0
    last = max(f["time"] for f in failures)
    assert max(m["x"] for m in drawn["marks"]) == pytest.approx(x(last), abs=2.0)


def test_names_and_error_texts_cannot_inject_markup(pages: dict[str, chromium.PageRun]) -> None:
    run = pages["hostile"]
    drawn = run.value
    assert run.errors() == [] and run.external_requests() == []
    assert drawn["pwned"] is None and drawn["images"] == 0 and drawn["scripts"] == 2
    # The texts are shown as text.
    assert "window.__pwned=5" in drawn["markTip"] and "<b onmouseover=window.__pwned=6>" in drawn["text"]


def test_a_passing_report_renders_without_failures() -> None:
    data = example()
    data.update(verdict="pass", failures=[], findings=[], causes={})
    data["requests"].update(failed=0, retryable=0)
    page = render_html(data)
    assert "PASS" in page and "No request failed." in page and 'class="fail"' not in page


def test_lane_phases_follow_the_timeline_rules() -> None:
    pod = {
        "created": 0.0,
        "ready": [[1.0, 4.0], [6.0, 8.0]],
        "stopSignals": [{"time": 4.0}, {"time": 8.5}],
        "deleted": 8.0,
        "stopSignal": 8.5,
        "killed": 9.0,
        "exits": [],
        "gone": 9.5,
    }
    expected = {
        0.5: "starting", 2.0: "ready", 5.0: "restarting", 7.0: "ready", 8.2: "terminating",
        8.7: "stopping", 9.2: "killed", 9.6: None,
    }  # fmt: skip
    assert {t: phase_at(pod, t) for t in expected} == expected


def test_findings_name_the_manifest_lines() -> None:
    loaded = load([str(ROOT / "examples" / "broken" / "no-prestop.yaml")]).applied()
    findings: list[dict[str, Any]] = [
        {
            "object": "Deployment/web",
            "field": "spec.template.spec.containers[0].lifecycle.preStop.sleep.seconds",
        },
        {"object": "Deployment/web", "field": "spec.template.spec.terminationGracePeriodSeconds"},
        {"object": None, "field": None},
    ]
    locate(findings, loaded)
    missing, written, nothing = (f["source"] for f in findings)
    text = (ROOT / "examples" / "broken" / "no-prestop.yaml").read_text().splitlines()
    # Not written: the line of the container it goes under.
    assert not missing["written"] and text[missing["line"] - 1].strip() == "- name: web"
    assert written["written"] and text[written["line"] - 1].strip() == "terminationGracePeriodSeconds: 15"
    excerpt = written["excerpt"]
    assert text[written["line"] - 1] in excerpt["lines"]
    assert excerpt["lines"][written["line"] - excerpt["start"]] == text[written["line"] - 1]
    assert nothing is None


def test_the_fixture_is_a_report_of_the_current_schema() -> None:
    """report.json's fields the page is drawn from: regenerate the fixture when this fails."""
    data = example()
    assert data["rate"]["sent"] and sum(data["rate"]["sent"]) == data["requests"]["total"]
    hist = data["requests"]["latencyHistogram"]
    assert sum(hist["succeeded"]) == data["requests"]["succeeded"]
    assert all("connection" in f for f in data["failures"])
    assert any(f.get("source") for f in data["findings"])
    assert copy.deepcopy(data) == json.loads(json.dumps(data))


def test_long_names_evidence_and_an_incomplete_run_are_shown() -> None:
    data = example()
    long_name = "default/web-" + "x" * 60
    data["pods"][0]["pod"] = long_name
    for f in data["failures"]:
        f["evidence"] = "exact-connection"
    data["failures"][0]["pod"] = None  # a failure no pod is known for gets a lane of its own
    data["run"].update(incomplete="interrupted by SIGINT", completed=False)
    data["run"].pop("lbPreset")
    page = render_html(data)
    assert "web-" + "x" * 10 + "…" + "x" * 15 + "<" in page and f'data-tip="{long_name}"' in page
    for cause, count in data["causes"].items():
        assert f"evidence: exact-connection ×{count}" in page, cause
    assert "Incomplete: interrupted by SIGINT" in page and "load balancer preset" not in page
    assert '<g class="lane" data-pod="">' in page


def test_a_report_without_the_added_fields_still_renders() -> None:
    """report.json from before rate, latencyHistogram, connection and source were added."""
    data = example()
    del data["rate"], data["requests"]["latencyHistogram"]
    for f in data["failures"]:
        del f["connection"], f["reused"]
    for finding in data["findings"]:
        del finding["source"]
    page = render_html(data)
    assert page.count('class="fail"') == len(data["failures"]) and 'id="latency"' not in page
    assert data["findings"][-1]["message"] in page


def test_a_name_reused_by_a_later_pod_puts_each_failure_on_the_pod_of_its_time() -> None:
    """A StatefulSet's replacement pod has its predecessor's name: two lanes, one name."""
    data = example()
    first, second = copy.deepcopy(data["pods"][0]), copy.deepcopy(data["pods"][0])
    first.update(created=-2.0, gone=1.0, ready=[[-1.0, 0.5]], deleted=0.5, stopSignal=0.5)
    second.update(created=1.5, gone=None, ready=[[2.0, None]], deleted=None, stopSignal=None)
    data["pods"] = [first, second]
    data["failures"] = [dict(data["failures"][0], pod=first["pod"], time=t) for t in (0.7, 1.7)]
    page = render_html(data)
    svg = ET.fromstring(page[page.index('<svg id="timeline"') : page.index("</svg>") + 6])
    lanes = [g for g in svg.iter("g") if g.get("class") == "lane"]
    tops = [float(next(r for r in g.iter("rect") if r.get("class") == "seg").get("y", "")) for g in lanes]
    marks = [float(c.get("cy", "")) for c in svg.iter("circle")]
    assert len(lanes) == 2 and tops[0] < tops[1]
    # Each failure on the lane of the pod that had the name at its time.
    assert tops[0] <= marks[0] <= tops[0] + 14 and tops[1] <= marks[1] <= tops[1] + 14


def test_a_cluster_run_says_what_it_could_and_could_not_show(pages: dict[str, chromium.PageRun]) -> None:
    run, data = pages["cluster"], cluster_mode()
    drawn, cluster = run.value, data["cluster"]
    assert run.errors() == [] and run.external_requests() == [], (run.errors(), run.requests)
    text = drawn["text"]
    for said in (
        "What this run could show",
        "What it could not show",
        "Which node's proxy routed a request",
        "deletion plus the container's preStop sleep",
        cluster["server"],
        cluster["target"]["address"],
        "the Service's ClusterIP",
        "preStop sleep of at least 0.42 s",
        "still reached after",
        # The restarts the watches showed, how each is dated and what the kubelet said.
        "Container restarts",
        "Container web failed liveness probe, will be restarted",
        "event-name",
        "watch closed by the server",
        "410 Expired",
        # The namespace left, and the command that finishes it.
        cluster["cleanup"]["command"],
    ):
        assert said in text, said
    for evidence, count in cluster["evidence"].items():
        assert f"{evidence} ×{count}" in text
    for pod, bound in cluster["propagation"].items():
        assert f"{bound:.3f} s" in text and pod in text
    # No proxy records: no cut-off drawn, none promised by the legend.
    assert all(lane["cuts"] == [] for lane in drawn["cuts"]) and "cut-off: its proxy" not in text
    # The gaps are grey bands at their times, each saying why.
    x = to_x(drawn["ticks"])
    assert next(g["tip"] for g in drawn["gaps"]).endswith(": watch closed by the server")
    for gap, band in zip(cluster["gaps"], drawn["gaps"], strict=True):
        assert band["left"] == pytest.approx(x(gap["start"]), abs=1.0)
        assert band["right"] == pytest.approx(x(gap["end"]), abs=2.5)
    # Every failure where report.json says: on its pod's lane, or the "(no pod)" lane when unattributed.
    failures = data["failures"]
    lanes = {lane["pod"]: lane for lane in drawn["lanes"]}
    assert sorted(m["i"] for m in drawn["marks"]) == list(range(len(failures)))
    for mark in drawn["marks"]:
        failure = failures[mark["i"]]
        assert mark["x"] == pytest.approx(x(failure["time"]), abs=1.0), failure
        lane = lanes[failure["pod"] or ""]
        assert lane["top"] <= mark["top"] and mark["bottom"] <= lane["bottom"], (failure, lane, mark)
        assert mark["hit"], mark
    # Each mark's tooltip names its evidence, and an unattributed one its candidates.
    for tip in drawn["tips"]:
        failure = failures[tip["i"]]
        assert f"evidence: {failure['evidence']}" in tip["text"]
        if failure["evidence"] == "unattributed":
            assert "candidates: " + ", ".join(failure["candidates"]) in tip["text"]
        else:
            assert "candidates" not in tip["text"]
    assert {failures[t["i"]]["evidence"] for t in drawn["tips"]} == set(cluster["evidence"])
    # The failures list (folded: not in the page's visible text) has the evidence and candidates.
    page = render_html(data)
    assert "<th>evidence</th><th>candidates</th>" in page
    unattributed = next(f for f in failures if f["evidence"] == "unattributed")
    assert "<td>unattributed</td><td>" + ", ".join(unattributed["candidates"]) + "</td>" in page


def test_a_local_report_has_no_cluster_block() -> None:
    page = render_html(example())
    assert "On a cluster" not in page and "watch gap" not in page and "<th>evidence</th>" not in page
