"""report.html's parts for a run on a cluster (report.json's ``mode: cluster`` and ``cluster``):
what the run could and could not show, the watch gaps on the timeline, and each failure's
evidence. A local run's document has none of these, and its page is drawn as before."""

from __future__ import annotations

from html import escape
from typing import Any, Protocol

# How the load reached the Service (cluster_steps.pick_target's names).
THROUGH = {
    "ClusterIP": "reachable from this machine",
    "NodePort": "on a node's address",
    "LoadBalancer": "its ingress address",
}
GAP_FILL = "#bdbdbd"


class _Axis(Protocol):
    t0: float
    t1: float

    def x(self, t: float) -> float: ...


def is_cluster(report: dict[str, Any]) -> bool:
    return report.get("mode") == "cluster"


def _e(value: object) -> str:
    return escape("-" if value is None else str(value), quote=True)


def _s(t: float | None) -> str:
    return "?" if t is None else f"{t:.2f} s"


def cluster_block(report: dict[str, Any]) -> str:
    """What this cluster run could and could not show, from its document alone."""
    if not is_cluster(report):
        return ""
    c = report.get("cluster") or {}
    target = c.get("target") or {}
    through = target.get("through")
    out = ['<h2>On a cluster</h2><p class="run">']
    server = f"API server <code>{_e(c.get('server'))}</code>"
    if c.get("serverVersion"):
        server += f" ({_e(c['serverVersion'])})"
    out.append(f"{server} · namespace <code>{_e(c.get('namespace'))}</code>")
    if target:
        how = THROUGH.get(str(through), _e(through))
        out.append(
            f" · load sent from this machine to <code>{_e(target.get('address'))}</code>, "
            f"the Service's {_e(through)} ({how}): through the cluster's own proxies, never "
            "port-forward or the API server's proxy"
        )
    out.append("</p>")
    cleanup = c.get("cleanup") or {}
    if cleanup.get("deleted") is False:
        out.append(
            f'<p class="incomplete">Namespace <code>{_e(cleanup.get("namespace"))}</code> was left on the '
            f"cluster: {_e(cleanup.get('left'))}. To finish deleting it: "
            f"<code>{_e(cleanup.get('command'))}</code></p>"
        )
    out.append('<div class="could"><div><h3>What this run could show</h3><ul>')
    evidence = c.get("evidence") or {}
    if evidence:
        counts = ", ".join(f"{_e(k)} ×{_e(v)}" for k, v in sorted(evidence.items()))
        out.append(
            f"<li>How each failed request was blamed: {counts}. Findings come only from "
            "<code>exact-*</code> and <code>inferred</code> blames; an <code>unattributed</code> "
            "one lists its candidate pods.</li>"
        )
    else:
        out.append("<li>No failed request to blame.</li>")
    out.append(
        "<li>Each pod's phases as the API reported them, stamped when each watch event reached "
        "this machine (the API's own timestamps have whole seconds).</li>"
    )
    out.append(_propagation(c.get("propagation") or {}))
    out.append(_restarts(c.get("restarts") or []))
    out.append(_gaps(c.get("gaps") or []))
    out.append("</ul></div><div><h3>What it could not show</h3><ul>")
    out += [
        "<li>Which node's proxy routed a request: a cluster keeps no proxy records, so the lanes "
        "have no per-node strips and no cut-off ticks, and a failure's node is blank.</li>",
        "<li>Each node's proxy lag (how long kube-proxy took to stop routing to a pod): only the "
        "lower bound of the propagation delay above.</li>",
        "<li>When a container got its stop signal: no API object records it. ▼ is estimated as "
        "the deletion plus the container's <code>preStop</code> sleep (a restart: its "
        "<code>Killing</code> Event plus it), or read from the app's own SIGTERM log line.</li>",
        "<li>The application's own view of a connection.</li>",
        "</ul></div></div>",
    ]
    return "".join(out)


def _restarts(restarts: list[dict[str, Any]]) -> str:
    """Each container restart the watches showed (verify/clusterrecord.py), and how it is dated."""
    if not restarts:
        return ""
    rows = "".join(
        f"<tr><td>{_e(r.get('pod'))}</td><td>{_e(r.get('container'))}</td>"
        f'<td class="n">{_e(_s(r.get("time")))}</td><td>{_e(r.get("stampedBy"))}</td>'
        f"<td>{_e(r.get('message'))}</td></tr>"
        for r in restarts
    )
    return (
        "<li>Container restarts (the kubelet's <code>Killing</code> Event, dated by its name's "
        "nanoseconds where it can be; a crash from the container's status):"
        '<table class="small"><tr><th>pod</th><th>container</th><th class="n">at</th><th>dated by</th>'
        f"<th>the kubelet said</th></tr>{rows}</table></li>"
    )


def _propagation(bounds: dict[str, float]) -> str:
    if not bounds:
        return (
            "<li>No lower bound of the propagation delay: no replaced pod answered a new "
            "connection after its endpoint changed (it needs a preStop sleep and new connections: "
            "<code>--connections close</code> or <code>mixed</code>).</li>"
        )
    rows = "".join(
        f'<tr><td>{_e(pod)}</td><td class="n">{float(s):.3f} s</td></tr>' for pod, s in sorted(bounds.items())
    )
    worst = max(float(s) for s in bounds.values())
    return (
        "<li>Per replaced pod, how long after its endpoint stopped being ready a new connection "
        "still reached it: a lower bound of this cluster's propagation delay, so a "
        f"<code>preStop</code> sleep of at least <b>{worst:.2f} s</b>, measured, not assumed."
        f'<table class="small"><tr><th>pod</th><th class="n">still reached after</th></tr>{rows}'
        "</table></li>"
    )


def _gaps(gaps: list[dict[str, Any]]) -> str:
    if not gaps:
        return "<li>No watch gap: the watches saw every change as it came.</li>"
    rows = "".join(
        f'<tr><td>{_e(g.get("resource"))}</td><td class="n">{_e(_s(g.get("start")))}</td>'
        f'<td class="n">{_e(_s(g.get("end")))}</td><td>{_e(g.get("why"))}</td></tr>'
        for g in gaps
    )
    return (
        f"<li>{len(gaps)} watch gap{'s' if len(gaps) != 1 else ''} (grey on the timeline): stretches "
        "in which a watch was down, its changes seen late or re-listed; times in seconds since "
        "the load started."
        '<table class="small"><tr><th>watch</th><th class="n">from</th><th class="n">to</th><th>why</th></tr>'
        f"{rows}</table></li>"
    )


def gap_bands(report: dict[str, Any], axis: _Axis, top: float, bottom: float) -> str:
    """A grey band over the lanes and the rate panel for each watch gap inside the axis."""
    out = []
    for g in (report.get("cluster") or {}).get("gaps") or []:
        start, end = g.get("start"), g.get("end")
        if not isinstance(start, (int, float)) or not isinstance(end, (int, float)):
            continue
        a, b = max(start, axis.t0), min(end, axis.t1)
        if b < a:
            continue
        x0, x1 = axis.x(a), axis.x(b)
        tip = f"watch gap ({g.get('resource')}): {_s(start)} → {_s(end)}: {g.get('why')}"
        out.append(
            f'<rect class="gap" data-tip="{_e(tip)}" x="{x0}" y="{top}" width="{max(x1 - x0, 2.0):.2f}" '
            f'height="{bottom - top:.1f}" fill="{GAP_FILL}" fill-opacity="0.45"/>'
        )
    return "".join(out)


def failure_columns(failures: list[dict[str, Any]]) -> bool:
    """Whether the failures list gets the evidence and candidates columns (a cluster run's)."""
    return any("evidence" in f for f in failures)


def evidence_cells(f: dict[str, Any]) -> str:
    candidates = f.get("candidates") or []
    shown = ", ".join(str(c) for c in candidates) if f.get("evidence") == "unattributed" else ""
    return f"<td>{_e(f.get('evidence'))}</td><td>{_e(shown or None)}</td>"
