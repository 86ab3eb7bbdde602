"""timeline.png: one lane per pod with its phases, when each node's proxy stopped routing to it,
and the request rate and failures over the same time axis. Headless (matplotlib's Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hitless.verify import timeline as tl
from hitless.verify.report import Report

COLOURS = {
    tl.PENDING: "#d9d9d9",
    tl.STARTING: "#9ecae1",
    tl.READY: "#31a354",
    tl.NOT_READY: "#fdae6b",
    tl.RESTARTING: "#756bb1",  # apart from the deletion track's oranges: a restart is no deletion
    tl.TERMINATING: "#fd8d3c",
    tl.STOPPING: "#d94801",
    tl.KILLED: "#a50f15",
    tl.STOPPED: "#636363",
}


def write_png(
    report: Report, path: Path, step: float = 0.02, gaps: list[dict[str, Any]] | None = None
) -> None:
    """``gaps`` (cluster mode: report.json's ``cluster.gaps``, seconds since the load started) are
    shaded: the watch view may have been late there. A cluster run has no proxy records, so no
    cut-off ticks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    origin = report.origin
    end_times = [r.done for r in report.requests if r.done is not None] + [origin + 1.0]
    end = max(end_times)
    start = min([p.created for p in report.timeline.lives() if p.created is not None] + [origin])
    lives = sorted(report.timeline.lives(), key=lambda p: p.created or 0.0)
    fig, (lanes, rate) = plt.subplots(
        2,
        1,
        sharex=True,
        figsize=(12, 1.5 + 0.45 * max(len(lives), 1) + 2.5),
        gridspec_kw={"height_ratios": [max(len(lives), 1) * 0.45 + 0.5, 2.5]},
    )
    # Lanes: sample each pod's phase and draw runs of equal phase.
    for row, life in enumerate(lives):
        t, current, since = start, None, start
        while t <= end + step:
            phase = life.phase_at(t)
            if phase != current:
                _bar(lanes, row, since, t, current, origin)
                current, since = phase, t
            t += step
        _bar(lanes, row, since, t, current, origin)
        for node, spans in life.routed.items():
            for _, stopped in spans:
                if stopped is not None:
                    lanes.plot([stopped - origin] * 2, [row - 0.4, row + 0.4], color="black", linewidth=1.2)
                    lanes.annotate(node, (stopped - origin, row + 0.42), fontsize=6, ha="center")
    lanes.set_yticks(range(len(lives)), [f"{p.name} ({p.node or '-'})" for p in lives], fontsize=8)
    lanes.invert_yaxis()
    if gaps is None:
        lanes.set_title("pods: phases; | = a node's proxy stopped routing to the pod", fontsize=9)
    else:
        lanes.set_title("pods: phases as the API showed them; grey = a watch gap", fontsize=9)
        for gap in gaps:
            for ax in (lanes, rate):
                ax.axvspan(gap["start"], max(gap["end"], gap["start"] + step), color="#bdbdbd", alpha=0.5)
    handles = [Rectangle((0, 0), 1, 1, color=c) for c in COLOURS.values()]
    lanes.legend(
        handles, list(COLOURS), fontsize=6, ncol=len(COLOURS), loc="lower center", bbox_to_anchor=(0.5, 1.08)
    )
    for t, what in report.timeline.marks:
        for ax in (lanes, rate):
            ax.axvline(t - origin, color="#3182bd", linestyle=":", linewidth=0.8)
        lanes.annotate(what, (t - origin, -0.6), fontsize=6, color="#3182bd")
    # Request rate (per 100 ms bin) and failures, by intended send time.
    width = 0.1
    bins: dict[int, int] = {}
    fails: dict[int, int] = {}
    for r in report.requests:
        b = int((r.intended - origin) / width)
        bins[b] = bins.get(b, 0) + 1
        if r.failed:
            fails[b] = fails.get(b, 0) + 1
    xs = sorted(bins)
    rate.plot(
        [x * width for x in xs],
        [bins[x] / width for x in xs],
        color="#3182bd",
        linewidth=0.8,
        label="requests/s",
    )
    if fails:
        fx = sorted(fails)
        rate.bar(
            [x * width for x in fx],
            [fails[x] / width for x in fx],
            width=width,
            color="#de2d26",
            label="failed/s",
        )
    rate.set_xlabel(
        "seconds since the load started"
        + ("" if gaps is None else " (a cluster: no per-node routing; stop signals = deletion + preStop)")
    )
    rate.set_ylabel("per second")
    rate.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _bar(ax: Any, row: int, since: float, until: float, phase: str | None, origin: float) -> None:
    if phase is None or phase == tl.GONE or until <= since:
        return
    ax.barh(row, until - since, left=since - origin, height=0.6, color=COLOURS.get(phase, "#cccccc"))
