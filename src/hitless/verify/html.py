"""report.html: the report a person opens (and attaches to a PR), rendered from report.json alone.

One self-contained file: inline CSS, inline SVG, a little inline script for tooltips, and a
Content-Security-Policy that forbids the browser any other load. Every string that came from the
manifests or the application (names, error texts, file lines) is escaped. Because the input is
report.json's dict, a local run and a run against a cluster render the same page.
"""

from __future__ import annotations

import json
from collections import Counter
from html import escape
from typing import Any

from hitless.verify.html_assets import CSP, CSS, JS
from hitless.verify.html_cluster import cluster_block, evidence_cells, failure_columns, is_cluster
from hitless.verify.html_latency import latency_svg
from hitless.verify.html_svg import (
    PHASES,
    cause_colour,
    drawn_failures,
    node_shade,
    nodes_of,
    timeline_svg,
)

# The usual fix per cause, as docs/verify.md's table gives it.
FIXES = {
    "killed-in-flight": "terminationGracePeriodSeconds ≥ preStop + drain",
    "keepalive-reset": "the app answers Connection: close while draining; or a retrying client",
    "local-no-endpoint": "externalTrafficPolicy: Cluster, or a ready pod on every node throughout",
    "capacity": "strategy: RollingUpdate, maxUnavailable: 0",
    "terminating-still-routed": "a preStop sleep longer than the propagation",
    "listener-closed": "a preStop sleep; drain in-flight requests on SIGTERM",
    "not-ready": "publishNotReadyAddresses: false; otherwise a proxy's stale view",
    "not-listening": "a readiness probe on the serving port",
}
# Failures listed in the table at the bottom (all of them are in report.json).
MAX_ROWS = 200


def _e(value: object) -> str:
    return escape("-" if value is None else str(value), quote=True)


def render_html(report: dict[str, Any]) -> str:
    verdict = "pass" if report.get("verdict") == "pass" else "fail"
    run = report.get("run", {})
    failures = report.get("failures", [])
    drawn = drawn_failures(failures)
    timeline = timeline_svg(report, drawn)
    # A cluster run's blames also carry their candidates (an unattributed one's failing pods).
    fields = (*TIP_FIELDS, "candidates") if is_cluster(report) else TIP_FIELDS
    tips_json = json.dumps(_tips([failures[i] for i in drawn], fields), separators=(",", ":"))
    # A script element cannot be closed from inside JSON whose "<" are escaped.
    tips_json = tips_json.replace("<", "\\u003c")
    title = f"hitless verify: {verdict.upper()} · {run.get('service', '')} · {run.get('scenario', '')}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body><main>",
        _header(report, verdict) + cluster_block(report),
        "<h2>Timeline</h2>",
        timeline,
        _legend(report),
    ]
    if len(drawn) < len(failures):
        parts.append(
            f'<p class="note">{len(drawn)} of the {len(failures)} failures drawn (an even sample '
            "over time): the red bars of the rate panel count them all; report.json lists each.</p>"
        )
    parts += [_findings(report), _causes(report), _latency(report), _failure_table(failures)]
    parts += [
        f"<footer>hitless verify · report.json schema version {_e(report.get('schemaVersion'))} · "
        "times are seconds since the load started</footer></main>",
        '<div id="tip" role="tooltip"></div>',
        f'<script type="application/json" id="failures">{tips_json}</script>',
        f"<script>{JS}</script></body></html>",
    ]
    return "\n".join(parts) + "\n"


TIP_FIELDS = (
    "seq", "time", "cause", "pod", "node", "phase", "outcome", "detail", "connection", "reused",
    "latencyMs", "reason", "evidence",
)  # fmt: skip


def _tips(failures: list[dict[str, Any]], fields: tuple[str, ...] = TIP_FIELDS) -> dict[str, Any]:
    """The drawn failures' fields for the tooltips, by column with each column's distinct values
    once (causes, pods, nodes, texts repeat): a third of the size of the plain records."""
    values: list[list[Any]] = [[] for _ in fields]
    index: list[dict[str, int]] = [{} for _ in fields]
    rows = []
    for f in failures:
        row = []
        for k, name in enumerate(fields):
            value = f.get(name)
            key = json.dumps(value)
            if key not in index[k]:
                index[k][key] = len(values[k])
                values[k].append(value)
            row.append(index[k][key])
        rows.append(row)
    return {"columns": list(fields), "values": values, "rows": rows}


def _header(report: dict[str, Any], verdict: str) -> str:
    run = report.get("run", {})
    requests = report.get("requests", {})
    latency = requests.get("latencyMs") or {}
    # Only what the run recorded: a run elsewhere (a cluster) may know other things.
    pieces = [
        f"{_e(run.get('scenario'))} × {_e(run.get('repeat'))} of Service <b>{_e(run.get('service'))}</b>"
    ]
    for key, template in (
        ("rps", "at {} requests/s"),
        ("connections", "{} connections"),
        ("nodes", "{} nodes"),
        ("lbPreset", "load balancer preset {}"),
    ):
        value = run.get(key)
        if value is not None:
            # JSON has 100.0 for a rate of 100: shown as people write it.
            shown = f"{value:g}" if isinstance(value, float) else value
            pieces.append(template.format(_e(shown)))
    files = ", ".join(str(f) for f in run.get("files", []))
    what = ", ".join(pieces) + (f" · {_e(files)}" if files else "")
    out = [
        f'<h1>hitless verify <span class="verdict {verdict}">{verdict.upper()}</span></h1>',
        f'<p class="run">{what}</p>',
    ]
    if run.get("incomplete"):
        out.append(
            f'<p class="incomplete">Incomplete: {_e(run["incomplete"])}. Such a run proves nothing.</p>'
        )
    failed = int(requests.get("failed") or 0)
    cards = [
        ("requests", requests.get("total"), ""),
        (
            f"failed (allowed {_e(report.get('maxFailures'))})",
            failed,
            " bad" if failed > int(report.get("maxFailures") or 0) else "",
        ),
        ("of them retryable", requests.get("retryable"), ""),
    ]
    cards += [(f"latency {_e(k)}", _ms(v), "") for k, v in latency.items()]
    out.append('<div class="cards">')
    out += [
        f'<div class="card{cls}"><b>{_e(value)}</b><span>{label}</span></div>' for label, value, cls in cards
    ]
    out.append("</div>")
    return "".join(out)


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _legend(report: dict[str, Any]) -> str:
    causes = list(report.get("causes", {}))
    items = [f'<span><i style="background:{c}"></i>{_e(label)}</span>' for c, label in PHASES.values()]
    if is_cluster(report):
        # No proxy records on a cluster: no cut-off; the stop signal is an estimate.
        items += [
            "<span>▼ stop signal (estimated: deletion + preStop)</span><span>✕ SIGKILL</span>",
            '<span><i style="background:#bdbdbd"></i>watch gap</span>',
        ]
    else:
        items += [
            '<span><i style="background:#111;width:3px"></i>a node\'s cut-off: its proxy stopped routing '
            "to the pod</span>",
            "<span>▼ stop signal</span><span>✕ SIGKILL</span>",
        ]
    items += [
        '<span><i style="background:#333;width:3px"></i>gone</span>',
        '<span><i style="background:#c6dbef;border:1px solid #3182bd"></i>requests/s</span>',
        '<span><i style="background:#de2d26"></i>failed/s</span>',
    ]
    items += [
        f'<span><i style="background:{node_shade(k)};height:4px;vertical-align:2px"></i>'
        f"routed by {_e(node)}</span>"
        for k, node in enumerate(nodes_of(report))
    ]
    items += [
        f'<span><i class="dot" style="background:{cause_colour(c)}"></i>failure: {_e(c)}</span>'
        for c in causes
    ]
    return (
        f'<div class="legend">{"".join(items)}</div>'
        '<p class="note">Hover a failure for its request, a lane segment for its phase and times.</p>'
    )


def _findings(report: dict[str, Any]) -> str:
    findings = report.get("findings", [])
    out = ["<h2>Findings</h2>"]
    if not findings:
        out.append('<p class="note">No finding: no failure to explain.</p>')
    for f in findings:
        cause = str(f.get("cause"))
        target = " ".join(f"<code>{_e(x)}</code>" for x in (f.get("object"), f.get("field")) if x)
        value = f" → <code>{_e(f['value'])}</code>" if f.get("value") is not None else ""
        out.append(f'<div class="finding" style="border-left-color:{cause_colour(cause)}">')
        out.append(
            f'<p><span class="cause" style="background:{cause_colour(cause)}">{_e(cause)}</span> '
            f'{target}{value} <span class="where">· {_e(f.get("failures"))} failed requests</span></p>'
        )
        out.append(f"<p>{_e(f.get('message'))}</p>")
        source = f.get("source")
        if source:
            where = f"{_e(source.get('file'))}:{_e(source.get('line'))}"
            if source.get("written") is False:
                where += " (the field is not written: this is the nearest line it goes under)"
            out.append(f'<p class="where">{where}</p>')
            excerpt = source.get("excerpt")
            if excerpt:
                out.append(_excerpt(excerpt, int(source.get("line") or 0)))
        out.append("</div>")
    return "".join(out)


def _excerpt(excerpt: dict[str, Any], line: int) -> str:
    rows = []
    for k, text in enumerate(excerpt.get("lines", [])):
        number = int(excerpt.get("start") or 1) + k
        cls = ' class="hit"' if number == line else ""
        rows.append(f"<span{cls}><em>{number}</em>{_e(text)}</span>")
    return f'<pre class="src">{"".join(rows)}</pre>'


def _causes(report: dict[str, Any]) -> str:
    failures = report.get("failures", [])
    causes = report.get("causes", {})
    out = ["<h2>Failures by cause</h2>"]
    if not causes:
        out.append('<p class="note">No request failed.</p>')
        return "".join(out)
    out.append(
        "<table><tr><th>cause</th><th>failed</th><th>retryable</th><th>where (pod@node, phase)</th>"
        "<th>outcomes</th><th>the usual fix</th></tr>"
    )
    for cause, count in causes.items():
        mine = [f for f in failures if f.get("cause") == cause]
        where = Counter(
            f"{str(f.get('pod') or '-').split('/')[-1]}@{f.get('node') or '-'} ({f.get('phase') or '-'})"
            for f in mine
        )
        outcomes = Counter(str(f.get("outcome")) for f in mine)
        places = "<br>".join(f"{_e(k)} ×{v}" for k, v in where.most_common(4))
        # How sure each blame is, when the run says (a cluster run does; a local run knows).
        evidence = Counter(str(f["evidence"]) for f in mine if f.get("evidence"))
        if evidence:
            places += "<br>evidence: " + ", ".join(f"{_e(k)} ×{v}" for k, v in evidence.most_common())
        out.append(
            f'<tr><td><span class="cause" style="background:{cause_colour(cause)}">{_e(cause)}</span></td>'
            f'<td class="n">{_e(count)}</td><td class="n">{sum(bool(f.get("retryable")) for f in mine)}</td>'
            f'<td class="where">{places}</td>'
            f"<td>{', '.join(f'{_e(k)} ×{v}' for k, v in outcomes.most_common())}</td>"
            f"<td>{_e(FIXES.get(cause, '—'))}</td></tr>"
        )
    out.append("</table>")
    return "".join(out)


def _latency(report: dict[str, Any]) -> str:
    requests = report.get("requests", {})
    latency = requests.get("latencyMs") or {}
    cells = "".join(f'<th class="n">{_e(k)}</th>' for k in latency) + "</tr><tr>"
    cells += "".join(f'<td class="n">{_e(_ms(v))}</td>' for v in latency.values())
    outcomes = ", ".join(f"{_e(k)} ×{_e(v)}" for k, v in requests.get("byOutcome", {}).items())
    return (
        "<h2>Latency</h2>"
        '<p class="note">From each request\'s intended send time (no coordinated omission); '
        "percentiles of the successful requests (blue), failed ones in red.</p>"
        f'{latency_svg(report)}<table style="max-width:520px"><tr>{cells}</tr></table>'
        f'<p class="note">Outcomes: {outcomes}</p>'
    )


def _failure_table(failures: list[dict[str, Any]]) -> str:
    if not failures:
        return ""
    shown = failures[:MAX_ROWS]
    blamed = failure_columns(failures)  # a cluster run's: how sure each blame is
    rows = "".join(
        f'<tr><td class="n">{_e(f.get("seq"))}</td><td class="n">{_e(f.get("time"))}</td>'
        f"<td>{_e(f.get('cause'))}</td><td>{_e(f.get('pod'))}</td><td>{_e(f.get('node'))}</td>"
        f"<td>{_e(f.get('phase'))}</td><td>{_e(f.get('outcome'))}</td><td>{_e(f.get('connection'))}</td>"
        + (evidence_cells(f) if blamed else "")
        + f"<td>{_e(f.get('reason'))}</td></tr>"
        for f in shown
    )
    extra = "<th>evidence</th><th>candidates</th>" if blamed else ""
    more = f" (the first {MAX_ROWS}; report.json has all)" if len(failures) > MAX_ROWS else ""
    return (
        f"<h2>Failed requests</h2><details><summary>{len(failures)} failed requests{more}</summary>"
        "<table><tr><th>#</th><th>time (s)</th><th>cause</th><th>pod</th><th>node</th><th>phase</th>"
        f"<th>outcome</th><th>connection</th>{extra}<th>why</th></tr>{rows}</table></details>"
    )
