"""What the in-cluster load agent prints, one JSON object a line, and how its times reach the
runner's clock.

The agent (``hitless agent load``, cli/agent.py) writes its lines to stdout, which the kubelet
keeps as the container's log; the runner follows ``pods/NAME/log?follow=true`` (verify/agent.py).
Light on purpose: the agent imports this and the load generator only (no pydantic, no engine).

Lines, in order:

- with ``--namespace`` (the agent watches: verify/agentwatch.py), first the lists' and then the
  watches' events, each as ``{"type": "watch", "at": T, "resource": R, "event": E, "object": O}``
  (:func:`encode_watch`: ``T`` its arrival on the agent's monotonic clock, ``O`` only what the
  runner's ClusterView reads), interleaved with everything below until ``end``; once every list
  answered ``{"type": "watching", "resources": [R...]}``; ``{"type": "watch-error", "message": ...}``
  when it cannot watch or a watch failed for good (the load goes on; the runner then blames from
  its own watches);
- ``{"type": "warm-up", "answered": [POD...]}`` each time one more of the pods to warm up answered;
- ``{"type": "ready", "monotonic": M, "wall": W, "bootId": B}``: the warm-up is over and the load
  starts; ``M`` and ``W`` are the agent's CLOCK_MONOTONIC and wall clock read together;
- ``{"type": "request", "seq": ..., ...}`` per finished request, in the order they finished, its
  times on the agent's monotonic clock (:func:`encode`);
- ``{"type": "gap", "resource": R, "start": S, "end": E, "why": W}`` per watch gap, after SIGTERM;
- ``{"type": "end", "requests": N, "overload": null}``: the agent stopped (SIGTERM) and flushed;
- ``{"type": "error", "message": ...}``: it could not go on (then it exits 1).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hitless.verify.generator import RequestResult

BOOT_ID = "/proc/sys/kernel/random/boot_id"


def boot_id() -> str:
    """This kernel's boot id: two processes that read the same one share CLOCK_MONOTONIC."""
    try:
        with open(BOOT_ID) as f:
            return f.read().strip()
    except OSError:
        return ""


def _t(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def encode(r: RequestResult) -> str:
    """A finished request as one line (no newline)."""
    return json.dumps(
        {
            "type": "request",
            "seq": r.seq,
            "intended": _t(r.intended),
            "sent": _t(r.sent),
            "done": _t(r.done),
            "keepalive": r.keepalive,
            "status": r.status,
            "error": r.error,
            "detail": r.detail,
            "client": None if r.client is None else f"{r.client[0]}:{r.client[1]}",
            "reused": r.reused,
            "firstByte": r.first_byte,
            "pod": r.pod,
        },
        separators=(",", ":"),
    )


def compact(resource: str, obj: dict[str, Any]) -> dict[str, Any]:
    """What verify/clusterrecord.py's ClusterView reads of an object: a Pod whole but its
    managedFields (its spec feeds the preStop and grace estimates and the findings), an
    EndpointSlice's endpoints' pod and conditions, an Event's identity, occurrence and words."""
    meta = obj.get("metadata") or {}
    if resource == "pods":
        return {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
    if resource == "endpointslices":
        return {
            "metadata": {"name": meta.get("name")},
            "endpoints": [
                {
                    "targetRef": {"name": (ep.get("targetRef") or {}).get("name")},
                    "conditions": ep.get("conditions"),
                }
                for ep in obj.get("endpoints") or []
            ],
        }
    involved = obj.get("involvedObject") or {}
    return {
        "metadata": {"name": meta.get("name")},
        "involvedObject": {k: involved.get(k) for k in ("kind", "name", "uid", "fieldPath") if k in involved},
        "reason": obj.get("reason"),
        "message": obj.get("message"),
        "count": obj.get("count"),
        "series": obj.get("series"),
    }


def encode_watch(resource: str, event: str, obj: dict[str, Any], at: float) -> str:
    """One watch event as one line (no newline), its arrival on the agent's monotonic clock."""
    return json.dumps(
        {
            "type": "watch",
            "at": round(at, 6),
            "resource": resource,
            "event": event,
            "object": compact(resource, obj),
        },
        separators=(",", ":"),
    )


def _shift(value: Any, offset: float) -> float | None:
    return None if value is None else float(value) + offset


def decode(line: dict[str, Any], offset: float) -> RequestResult:
    """A ``request`` line back as a RequestResult, its times moved by ``offset`` onto the runner's
    clock (:class:`ClockMap`). Raises KeyError or ValueError on a line that is not one."""
    client = line.get("client")
    address = None
    if client:
        host, _, port = str(client).rpartition(":")
        address = (host, int(port))
    error = line.get("error")
    if error not in (None, "refused", "reset", "timeout"):
        raise ValueError(f"unknown error kind {error!r}")
    status = line.get("status")
    return RequestResult(
        seq=int(line["seq"]),
        intended=float(line["intended"]) + offset,
        keepalive=bool(line["keepalive"]),
        sent=_shift(line.get("sent"), offset),
        done=_shift(line.get("done"), offset),
        status=None if status is None else int(status),
        error=error,
        detail=str(line.get("detail") or ""),
        client=address,
        reused=bool(line.get("reused")),
        first_byte=bool(line.get("firstByte")),
        pod=line.get("pod"),
    )


@dataclass(frozen=True)
class ClockMap:
    """The agent's monotonic seconds to the runner's: ``runner = agent + offset``.

    On one kernel (the same boot id: ``hitless up``, or a runner on a kind node's host) both read
    the same CLOCK_MONOTONIC and ``offset`` is 0. Across machines the pair (monotonic, wall) each
    side read at one moment maps through wall time, so the mapping is off by how far the two
    machines' wall clocks disagree (NTP keeps that to milliseconds; an unsynchronised clock to
    anything) plus the drift of the monotonic clocks over the run (slewed by NTP to real time).
    """

    offset: float
    how: str  # "shared-monotonic" or "wall-clock"

    @staticmethod
    def of(ready: dict[str, Any], runner_mono: float, runner_wall: float, runner_boot: str) -> ClockMap:
        """From the agent's ``ready`` line and the runner's own (monotonic, wall, boot id) reading;
        ``runner_boot`` empty when the runner's clock is not CLOCK_MONOTONIC (a fake clock)."""
        if runner_boot and ready.get("bootId") == runner_boot:
            return ClockMap(0.0, "shared-monotonic")
        agent = float(ready["wall"]) - float(ready["monotonic"])
        return ClockMap(agent - (runner_wall - runner_mono), "wall-clock")


def ahead(results: list[tuple[RequestResult, float]]) -> float:
    """How far the mapped agent clock is at least ahead of the runner's: a request's line is
    written after the request finished and read after it was written, so its mapped ``done`` later
    than the runner's arrival time of its line proves the mapping runs ahead by that much at
    least. 0 when nothing proves it (a clock behind cannot be told from log latency)."""
    worst = 0.0
    for r, arrived in results:
        if r.done is not None:
            worst = max(worst, r.done - arrived)
    return worst


def move(r: RequestResult, by: float) -> None:
    r.intended += by
    if r.sent is not None:
        r.sent += by
    if r.done is not None:
        r.done += by
