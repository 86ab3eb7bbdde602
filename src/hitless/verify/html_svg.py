"""report.html's timeline as hand-written SVG, from report.json: pod lanes with their phases,
each node's cut-off, the request rate and the failures. Nothing to fetch, and the page reads as
well with its script off: the script only adds tooltips."""

from __future__ import annotations

import itertools
import math
from html import escape
from typing import Any

from hitless.verify.html_cluster import gap_bands

# Phases as timeline.py names them; colours as timeline.png draws them (picture.py).
PHASES: dict[str, tuple[str, str]] = {
    "starting": ("#9ecae1", "created, not Ready yet"),
    "ready": ("#31a354", "Ready"),
    "not-ready": ("#fdae6b", "not Ready (was)"),
    "restarting": ("#756bb1", "restarting (stop signal, not deleted)"),
    "terminating": ("#fd8d3c", "terminating (deleted; preStop)"),
    "stopping": ("#d94801", "stopping (stop signal sent)"),
    "killed": ("#a50f15", "SIGKILLed"),
    "stopped": ("#636363", "stopped (exited)"),
}
# Apart from the phases' greens and oranges, so that a mark stands out on any lane segment.
CAUSE_COLOURS = {
    "killed-in-flight": "#67001f",
    "keepalive-reset": "#e7298a",
    "local-no-endpoint": "#1f78b4",
    "capacity": "#17becf",
    "terminating-still-routed": "#e41a1c",
    "listener-closed": "#ffd92f",
    "not-ready": "#8c564b",
    "not-listening": "#bcbd22",
    "other": "#666666",
}
# The grey strips under a lane: when each node's proxy routed to the pod, one shade per node.
NODE_SHADES = ("#737373", "#bdbdbd", "#9ecae1", "#d9d9d9", "#525252", "#c6dbef")
# Failure marks drawn one by one; beyond, a sample (the rate panel's failed/s counts them all).
MAX_MARKS = 2000

WIDTH, LEFT, RIGHT = 1120, 200, 16
PLOT = WIDTH - LEFT - RIGHT
BAR, STRIP, LANE_GAP = 14, 4, 10
RATE_HEIGHT = 110


def node_shade(k: int) -> str:
    return NODE_SHADES[k % len(NODE_SHADES)]


def nodes_of(report: dict[str, Any]) -> list[str]:
    return sorted({n for p in report.get("pods", []) for n in p.get("routedBy", {})})


def cause_colour(cause: str) -> str:
    return CAUSE_COLOURS.get(cause, "#444444")


def attr(value: object) -> str:
    """An attribute value, quoted and escaped."""
    return '"' + escape(str(value), quote=True) + '"'


def _s(t: float | None) -> str:
    return "?" if t is None else f"{t:.2f} s"


class Axis:
    """Seconds since the load started to x in the SVG."""

    def __init__(self, t0: float, t1: float) -> None:
        self.t0, self.t1 = t0, max(t1, t0 + 0.1)

    def x(self, t: float) -> float:
        return round(LEFT + (t - self.t0) / (self.t1 - self.t0) * PLOT, 2)

    def ticks(self) -> list[float]:
        span = self.t1 - self.t0
        step = next((s for s in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300) if span / s <= 12), 600.0)
        first = math.ceil(self.t0 / step)
        return [round(k * step, 3) for k in range(first, math.floor(self.t1 / step) + 1)]


def axis_for(report: dict[str, Any]) -> Axis:
    times: list[float] = [0.0]
    for pod in report.get("pods", []):
        times += [t for t in (pod.get("created"), pod.get("gone"), pod.get("killed")) if t is not None]
        for spans in pod.get("routedBy", {}).values():
            times += [t for span in spans for t in span if t is not None]
    rate = report.get("rate") or {}
    if rate.get("sent"):
        times += [rate["start"], rate["start"] + rate["binSeconds"] * len(rate["sent"])]
    times += [f["time"] for f in report.get("failures", []) if f.get("time") is not None]
    times += [m["time"] for m in report.get("marks", []) if m.get("time") is not None]
    lo, hi = min(times), max(times)
    pad = (hi - lo) * 0.01
    return Axis(lo - pad, hi + pad)


def phase_at(pod: dict[str, Any], t: float) -> str | None:
    """The pod's phase at ``t`` from report.json's facts, as timeline.py decides it."""
    created, deleted, gone = pod.get("created"), pod.get("deleted"), pod.get("gone")
    if (created is not None and t < created) or (gone is not None and t >= gone):
        return None
    if deleted is not None and t >= deleted:
        killed, stop = pod.get("killed"), pod.get("stopSignal")
        if killed is not None and t >= killed:
            return "killed"
        if stop is not None and t >= stop:
            exits = [
                e["time"] for e in pod.get("exits", []) if e.get("time") is not None and e["time"] >= stop
            ]
            return "stopped" if exits and t >= max(exits) else "stopping"
        return "terminating"
    ready = pod.get("ready", [])
    if any(s is not None and s <= t and (e is None or t < e) for s, e in ready):
        return "ready"
    starts = [s for s, _ in ready if s is not None and s <= t]
    restarts = [s["time"] for s in pod.get("stopSignals", []) if s.get("time") is not None and s["time"] <= t]
    if restarts and (not starts or max(restarts) >= max(starts)):
        return "restarting"
    return "not-ready" if starts else "starting"


def segments(pod: dict[str, Any], axis: Axis) -> list[tuple[float, float, str]]:
    """Runs of one phase, between the pod's own event times."""
    cuts = {axis.t0, axis.t1}
    for key in ("created", "deleted", "stopSignal", "killed", "gone"):
        if pod.get(key) is not None:
            cuts.add(pod[key])
    for span in pod.get("ready", []):
        cuts.update(t for t in span if t is not None)
    for key in ("stopSignals", "exits"):
        cuts.update(e["time"] for e in pod.get(key, []) if e.get("time") is not None)
    edges = sorted(t for t in cuts if axis.t0 <= t <= axis.t1)
    out: list[tuple[float, float, str]] = []
    for a, b in itertools.pairwise(edges):
        phase = phase_at(pod, (a + b) / 2)
        if phase is None or b <= a:
            continue
        if out and out[-1][2] == phase and out[-1][1] == a:
            out[-1] = (out[-1][0], b, phase)
        else:
            out.append((a, b, phase))
    return out


def drawn_failures(failures: list[dict[str, Any]]) -> list[int]:
    """The failures drawn as marks (their indices): all that have a time, or, over ``MAX_MARKS``,
    an even sample of them, so that the marks still span the whole run."""
    timed = [i for i, f in enumerate(failures) if f.get("time") is not None]
    if len(timed) <= MAX_MARKS:
        return timed
    return [timed[k * len(timed) // MAX_MARKS] for k in range(MAX_MARKS)]


def timeline_svg(report: dict[str, Any], drawn: list[int]) -> str:
    """The timeline, with a mark for each failure of ``drawn`` (``data-f``: its row in the page's
    tooltip data; ``data-i``: its index in report.json's failures)."""
    axis = axis_for(report)
    pods = report.get("pods", [])
    nodes = nodes_of(report)
    lane_h = BAR + STRIP * len(nodes) + LANE_GAP
    failures = report.get("failures", [])
    lanes = [p["pod"] for p in pods]
    if any(f.get("pod") not in lanes for f in failures):
        lanes.append("")  # failures no pod is known for
    top = 28
    lanes_bottom = top + lane_h * len(lanes)
    rate_top = lanes_bottom + 30
    height = rate_top + RATE_HEIGHT + 34
    out = [
        f'<svg id="timeline" viewBox="0 0 {WIDTH} {height}" role="img" '
        'aria-label="timeline: pod lanes, request rate and failures">'
    ]
    # Time grid and axis (the ticks are where the test reads the axis from).
    for t in axis.ticks():
        x = axis.x(t)
        out.append(
            f'<g class="tick" data-t="{t:g}"><line class="grid" x1="{x}" x2="{x}" y1="{top - 6}" '
            f'y2="{rate_top + RATE_HEIGHT}"/><text x="{x}" y="{height - 18}" text-anchor="middle" '
            f'class="muted">{t:g} s</text></g>'
        )
    out.append(
        f'<text x="{LEFT + PLOT / 2}" y="{height - 3}" text-anchor="middle" class="muted">'
        "seconds since the load started</text>"
    )
    for mark in report.get("marks", []):
        if mark.get("time") is None:
            continue
        x = axis.x(mark["time"])
        tip = f"{mark['what']} started at {_s(mark['time'])}"
        out.append(
            f"<g data-tip={attr(tip)}>"
            f'<line x1="{x}" x2="{x}" y1="14" y2="{rate_top + RATE_HEIGHT}" stroke="#3182bd" '
            f'stroke-dasharray="3 3"/><text x="{x + 3}" y="12" fill="#3182bd" style="fill:#3182bd">'
            f"{escape(str(mark['what']))}</text></g>"
        )
    # A cluster run's watch gaps, under the lanes and the marks (html_cluster.py).
    out.append(gap_bands(report, axis, top - 6, rate_top + RATE_HEIGHT))
    for row, pod in enumerate(pods):
        out.append(_lane(pod, axis, top + row * lane_h, nodes))
    if len(lanes) > len(pods):
        y = top + len(pods) * lane_h
        out.append(
            f'<g class="lane" data-pod=""><text x="{LEFT - 8}" y="{y + BAR - 3}" text-anchor="end" '
            'class="muted">(no pod)</text></g>'
        )
    out.append(_rate(report.get("rate") or {}, axis, rate_top))
    # Many marks: smaller and without outlines, which would turn a dense run into a black band.
    radius, dense = (4.2, "") if len(drawn) <= 300 else (2.6, " dense")
    for k, i in enumerate(drawn):
        f = failures[i]
        row = _lane_of(pods, f) if f.get("pod") in lanes else len(lanes) - 1
        cy = top + row * lane_h + BAR / 2 + (i * 7 % 9 - 4) * 0.6
        out.append(
            f'<circle class="fail{dense}" data-f="{k}" data-i="{i}" cx="{axis.x(f["time"])}" cy="{cy:.1f}" '
            f'r="{radius}" fill="{cause_colour(str(f.get("cause")))}"/>'
        )
    out.append("</svg>")
    return "".join(out)


def _lane_of(pods: list[dict[str, Any]], failure: dict[str, Any]) -> int:
    """The row of the failure's pod. A name can have several pods in turn (a StatefulSet's
    replacement takes its predecessor's name): the last one created by the failure's time."""
    rows = [k for k, p in enumerate(pods) if p["pod"] == failure["pod"]]
    created = [k for k in rows if (pods[k].get("created") or -math.inf) <= failure["time"]]
    return created[-1] if created else rows[0]


def _lane(pod: dict[str, Any], axis: Axis, y: float, nodes: list[str]) -> str:
    name = str(pod["pod"]).split("/")[-1]
    # The label column fits ~30 characters; the whole name is in the tooltip.
    label = name if len(name) <= 30 else name[:14] + "…" + name[-15:]
    out = [
        f'<g class="lane" data-pod={attr(pod["pod"])}>',
        f'<text x="{LEFT - 8}" y="{y + BAR - 3}" text-anchor="end" data-tip={attr(pod["pod"])}>'
        f"{escape(label)}</text>",
        f'<text x="{LEFT - 8}" y="{y + BAR + 9}" text-anchor="end" class="muted" font-size="9">'
        f"{escape(str(pod.get('node') or '-'))}</text>",
    ]
    for a, b, phase in segments(pod, axis):
        colour, label = PHASES.get(phase, ("#cccccc", phase))
        tip = f"{name}: {label}\n{_s(a)} → {_s(b)} ({b - a:.2f} s)"
        out.append(
            f'<rect class="seg" data-phase="{phase}" data-tip={attr(tip)} x="{axis.x(a)}" y="{y}" '
            f'width="{max(axis.x(b) - axis.x(a), 0.5):.2f}" height="{BAR}" fill="{colour}"/>'
        )
    deleted, stop = pod.get("deleted"), pod.get("stopSignal")
    for k, node in enumerate(nodes):
        sy = y + BAR + 1 + k * STRIP
        for start, end in pod.get("routedBy", {}).get(node, []):
            a = axis.x(start if start is not None else axis.t0)
            b = axis.x(end if end is not None else axis.t1)
            out.append(
                f'<rect x="{a}" y="{sy}" width="{max(b - a, 0.5):.2f}" height="{STRIP - 1}" '
                f'fill="{node_shade(k)}"/>'
            )
            if end is None:
                continue
            after = [
                f"{end - t:.2f} s after {what}"
                for what, t in (("deletion", deleted), ("its stop signal", stop))
                if t is not None
            ]
            tip = f"{node}'s proxy stopped routing to {name} at {_s(end)}" + (
                "\n" + ", ".join(after) if after else ""
            )
            out.append(
                f'<rect class="cut" data-node={attr(node)} data-tip={attr(tip)} x="{b - 1}" y="{y - 2}" '
                f'width="2.2" height="{BAR + 3 + (k + 1) * STRIP}" fill="#111"/>'
            )
    for signal in pod.get("stopSignals", []):
        if signal.get("time") is None:
            continue
        x = axis.x(signal["time"])
        grace = signal.get("graceSeconds")
        tip = f"{name}: stop signal to container {signal.get('container')} at {_s(signal['time'])}"
        tip += f" (grace {grace:g} s)" if isinstance(grace, (int, float)) else ""
        out.append(
            f'<path class="sig" data-tip={attr(tip)} d="M{x - 4},{y - 5} L{x + 4},{y - 5} L{x},{y + 1} Z" '
            'fill="#08306b"/>'
        )
    if pod.get("killed") is not None:
        x = axis.x(pod["killed"])
        tip = f"{name}: SIGKILL at {_s(pod['killed'])} (grace period over)"
        out.append(
            f'<path class="sig" data-tip={attr(tip)} d="M{x - 4},{y + 2} L{x + 4},{y + BAR - 2} '
            f'M{x + 4},{y + 2} L{x - 4},{y + BAR - 2}" stroke="#fff" stroke-width="2.4"/>'
        )
    if pod.get("gone") is not None:
        x = axis.x(pod["gone"])
        tip = f"{name}: gone at {_s(pod['gone'])}"
        out.append(
            f'<rect class="sig" data-tip={attr(tip)} x="{x - 1}" y="{y}" width="2" height="{BAR}" '
            'fill="#333"/>'
        )
    out.append("</g>")
    return "".join(out)


def _rate(rate: dict[str, Any], axis: Axis, y: float) -> str:
    sent: list[int] = rate.get("sent") or []
    failed: list[int] = rate.get("failed") or []
    width = float(rate.get("binSeconds") or 0.1)
    start = float(rate.get("start") or 0.0)
    peak = max([n / width for n in sent] + [1.0])
    scale = nice_ceiling(peak)
    base = y + RATE_HEIGHT

    def yv(v: float) -> float:
        return round(base - v / scale * RATE_HEIGHT, 2)

    out = [f'<g id="rate"><line class="axis" x1="{LEFT}" x2="{LEFT + PLOT}" y1="{base}" y2="{base}"/>']
    for v in (scale / 2, scale):
        out.append(
            f'<line class="grid" x1="{LEFT}" x2="{LEFT + PLOT}" y1="{yv(v)}" y2="{yv(v)}"/>'
            f'<text x="{LEFT - 8}" y="{yv(v) + 4}" text-anchor="end" class="muted">{v:g}/s</text>'
        )
    out.append(f'<text x="{LEFT - 8}" y="{base + 4}" text-anchor="end" class="muted">0</text>')
    out.append(f'<text x="{LEFT - 8}" y="{y - 8}" text-anchor="end" font-weight="600">requests/s</text>')
    if sent:
        points = [f"M{axis.x(start)},{base}"]
        for i, n in enumerate(sent):
            a, b = axis.x(start + i * width), axis.x(start + (i + 1) * width)
            points.append(f"L{a},{yv(n / width)} L{b},{yv(n / width)}")
        points.append(f"L{axis.x(start + len(sent) * width)},{base} Z")
        out.append(f'<path d="{" ".join(points)}" fill="#c6dbef" stroke="#3182bd" stroke-width="0.8"/>')
    for i, n in enumerate(failed):
        if n:
            a, b = axis.x(start + i * width), axis.x(start + (i + 1) * width)
            of = sent[i] if i < len(sent) else "?"
            tip = f"{n} failed of {of} sent, {_s(start + i * width)} → {_s(start + (i + 1) * width)}"
            out.append(
                f'<rect data-tip={attr(tip)} x="{a}" y="{yv(n / width)}" width="{max(b - a, 1.0):.2f}" '
                f'height="{round(base - yv(n / width), 2)}" fill="#de2d26"/>'
            )
    out.append("</g>")
    return "".join(out)


def nice_ceiling(value: float) -> float:
    """The round number at or above ``value`` that an axis ends on."""
    magnitude = 10.0 ** math.floor(math.log10(value))
    return next(float(m * magnitude) for m in (1, 2, 2.5, 5, 10) if m * magnitude >= value)
