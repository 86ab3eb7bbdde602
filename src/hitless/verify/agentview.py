"""The runner's side of the agent's watches: the ``watch`` lines (verify/agentwire.py) kept as
they arrive, and at the end the ClusterView the blame reads, built from them on the runner's
clock through the same mapping as the agent's requests (ClockMap, then its correction).

The view is the agent's only when it watched from its ``watching`` line to its ``end`` without a
``watch-error``; otherwise the runner's own (cluster_steps.Watched) is used and the report says why.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hitless.clock import Clock
from hitless.verify.clusterrecord import ClusterView


class AgentWatchLog:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.gaps: list[dict[str, Any]] = []
        self.watching = False
        self.error: str | None = None

    def take(self, line: dict[str, Any]) -> bool:
        """Keep a watch line; False for a line of another type."""
        kind = line["type"]
        if kind == "watch":
            self.events.append(line)
        elif kind == "watching":
            self.watching = True
        elif kind == "watch-error":
            self.error = self.error or str(line.get("message"))
        elif kind == "gap":
            self.gaps.append(line)
        else:
            return False
        return True

    def usable(self, ended: bool) -> str | None:
        """Why the agent's view cannot be used; None when it can."""
        if self.error is not None:
            return self.error
        if not self.watching:
            return "the agent did not watch"
        if not ended:
            return "the agent's log ended before its end line: its watches may have missed the end"
        return None

    def view(self, namespace: str, clock: Clock, offset: float, ignored: set[str]) -> ClusterView:
        """The events replayed in the order the agent received them, each at its arrival mapped
        onto the runner's clock; Events of ``ignored`` pods (the agent's own) left out."""
        view = ClusterView(namespace, clock=clock)
        for line in self.events:
            at, obj, event = float(line["at"]) + offset, line.get("object") or {}, str(line.get("event"))
            resource = line.get("resource")
            if resource == "pods":
                view.on_pod(event, obj, at)
            elif resource == "endpointslices":
                view.on_slice(event, obj, at)
            elif resource == "events" and (obj.get("involvedObject") or {}).get("name") not in ignored:
                view.on_event(event, obj, at)
        return view

    def counts(self) -> dict[str, int]:
        return dict(Counter(str(line.get("resource")) for line in self.events))

    def mapped_gaps(self, offset: float) -> list[dict[str, Any]]:
        return [
            {
                "resource": g.get("resource"),
                "start": float(g["start"]) + offset,
                "end": float(g["end"]) + offset,
                "why": g.get("why"),
            }
            for g in self.gaps
        ]
