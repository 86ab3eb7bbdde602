"""Text output of ``hitless up``: pod rows as ``kubectl get pods -w`` prints them, with the
Events in between, one line each, as they happen. Append-only, so it reads the same in a
terminal and in a CI log.
"""

from __future__ import annotations

import sys
from typing import TextIO

from hitless.api.types.apps import Deployment
from hitless.api.types.daemonset import DaemonSet
from hitless.api.types.event import Event
from hitless.api.types.pod import Pod
from hitless.api.types.statefulset import StatefulSet
from hitless.clock import Clock
from hitless.output.printers import pod_row, rollout_status
from hitless.output.workload_status import daemonset_status, statefulset_status
from hitless.store.store import WatchEvent

COLUMNS = ("NAME", "READY", "STATUS", "RESTARTS", "AGE")


class TextPrinter:
    def __init__(self, clock: Clock, out: TextIO = sys.stdout, show_events: bool = True) -> None:
        self._clock = clock
        self._out = out
        self._show_events = show_events
        # Rows are printed as they change, so columns cannot be re-aligned later as kubectl's
        # tabwriter does: start wide enough for the usual values (a Deployment's pod names are
        # 20 characters and more) and grow when needed.
        self._widths = [max(len(c), w) for c, w in zip(COLUMNS, (24, 5, 17, 8, 3), strict=True)]
        self._start = clock.now()
        self._header = False
        self._last: dict[str, tuple[str, ...]] = {}
        self._rollout: dict[str, str] = {}

    def _row(self, cells: tuple[str, ...]) -> str:
        self._widths = [max(w, len(c)) for w, c in zip(self._widths, cells, strict=True)]
        return "   ".join(c.ljust(w) for c, w in zip(cells, self._widths, strict=True)).rstrip()

    def __call__(self, event: WatchEvent) -> None:
        obj = event.object
        if isinstance(obj, Pod):
            if event.type == "DELETED":
                return
            cells = pod_row(obj, self._clock.wall())
            # A row changes when anything but its age does (as kubectl prints on each update).
            key = cells[:4]
            if self._last.get(obj.metadata.uid or "") == key:
                return
            self._last[obj.metadata.uid or ""] = key
            if not self._header:
                self._out.write(self._row(COLUMNS) + "\n")
                self._header = True
            self._out.write(self._row(cells) + "\n")
        elif isinstance(obj, Deployment) and event.type != "DELETED":
            # A Deployment's progress as `kubectl rollout status` words it, once per change.
            message = rollout_status(obj)
            if self._rollout.get(obj.metadata.uid or "") != message:
                self._rollout[obj.metadata.uid or ""] = message
                self._out.write(
                    f"  {self._elapsed():>8}  {'':<7}  {'':<17}  deployment/{obj.name}: {message}\n"
                )
        elif isinstance(obj, StatefulSet | DaemonSet) and event.type != "DELETED":
            message, _ = statefulset_status(obj) if isinstance(obj, StatefulSet) else daemonset_status(obj)
            if self._rollout.get(obj.metadata.uid or "") != message:
                self._rollout[obj.metadata.uid or ""] = message
                who = f"{obj.kind.lower()}/{obj.name}"
                self._out.write(f"  {self._elapsed():>8}  {'':<7}  {'':<17}  {who}: {message}\n")
        elif isinstance(obj, Event) and self._show_events and event.type != "DELETED":
            ref = obj.involved_object
            who = f"{(ref.kind or '').lower()}/{ref.name}"
            if ref.field_path:
                who += f" {ref.field_path}"
            count = f" (x{obj.count})" if obj.count > 1 else ""
            self._out.write(
                f"  {self._elapsed():>8}  {obj.type:<7}  {obj.reason:<17}  {who}: {obj.message}{count}\n"
            )
        self._out.flush()

    def _elapsed(self) -> str:
        # Seconds since hitless started: the order and spacing of lifecycle steps is the point.
        return f"+{self._clock.now() - self._start:.2f}s"
