"""report.html's latency distribution as hand-written SVG: report.json's log-binned histogram
(requests.latencyHistogram) with the percentiles drawn over it."""

from __future__ import annotations

import math
from html import escape
from typing import Any

from hitless.verify.html_svg import attr, nice_ceiling


def latency_svg(report: dict[str, Any]) -> str:
    """Log-binned histogram of latencies, the percentiles as lines; empty without the bins."""
    requests = report.get("requests", {})
    hist = requests.get("latencyHistogram")
    if not hist or not (any(hist.get("succeeded", [])) or any(hist.get("failed", []))):
        return ""
    edges: list[float] = hist["edgesMs"]
    ok: list[int] = hist["succeeded"]
    bad: list[int] = hist["failed"]
    used = [i for i in range(len(ok)) if ok[i] or bad[i]]
    lo, hi = max(0, used[0] - 1), min(len(ok), used[-1] + 2)
    w, h, left, bottom = 760, 200, 60, 170
    step = (w - left - 10) / (hi - lo)
    peak = nice_ceiling(max(ok[i] + bad[i] for i in range(lo, hi)))

    def x_of(ms: float) -> float:
        k = (math.log10(max(ms, edges[0])) - math.log10(edges[lo])) / (
            math.log10(edges[hi]) - math.log10(edges[lo])
        )
        return round(left + k * (w - left - 10), 2)

    out = [f'<svg id="latency" viewBox="0 0 {w} {h}" style="max-width:{w}px">']
    out.append(f'<line class="axis" x1="{left}" x2="{w - 10}" y1="{bottom}" y2="{bottom}"/>')
    out.append(
        f'<line class="grid" x1="{left}" x2="{w - 10}" y1="{bottom - 120}" y2="{bottom - 120}"/>'
        f'<text x="{left - 6}" y="{bottom - 116}" text-anchor="end" class="muted">{peak:g}</text>'
        f'<text x="{left - 6}" y="{bottom + 4}" text-anchor="end" class="muted">0</text>'
        f'<text x="{left - 6}" y="{bottom - 132}" text-anchor="end" class="muted">requests</text>'
    )
    for i in range(lo, hi):
        x = left + (i - lo) * step
        for count, colour, below, what in (
            (ok[i], "#6baed6", 0, "succeeded"),
            (bad[i], "#de2d26", ok[i], "failed"),
        ):
            if not count:
                continue
            bh, by = count / peak * 120, bottom - (count + below) / peak * 120
            tip = f"{count} {what} in {edges[i]:g}–{edges[i + 1]:g} ms"
            out.append(
                f'<rect data-tip={attr(tip)} x="{x + 1:.2f}" y="{by:.2f}" width="{step - 2:.2f}" '
                f'height="{bh:.2f}" fill="{colour}"/>'
            )
    for i in range(lo, hi + 1):
        decade = math.log10(edges[i])
        if abs(decade - round(decade)) > 1e-6:
            continue
        x = left + (i - lo) * step
        label = f"{edges[i]:g} ms" if edges[i] < 1000 else f"{edges[i] / 1000:g} s"
        out.append(
            f'<line class="grid" x1="{x:.2f}" x2="{x:.2f}" y1="{bottom - 130}" y2="{bottom + 3}"/>'
            f'<text x="{x:.2f}" y="{bottom + 15}" text-anchor="middle" class="muted">{label}</text>'
        )
    out.append(f'<text x="{(w + left) / 2}" y="{h - 2}" text-anchor="middle" class="muted">log scale</text>')
    shown = [(k, v) for k, v in (requests.get("latencyMs") or {}).items() if v is not None and k != "max"]
    for row, (name, value) in enumerate(shown):
        x = x_of(value)
        tip = f"{name}: {value:g} ms (successful requests)"
        out.append(
            f'<g data-tip={attr(tip)}><line x1="{x}" x2="{x}" '
            f'y1="{bottom - 135}" y2="{bottom}" stroke="#08306b" stroke-dasharray="4 2"/>'
            f'<text x="{x + 3}" y="{bottom - 126 + row * 12}" font-size="10">{escape(str(name))}</text></g>'
        )
    out.append("</svg>")
    return "".join(out)
