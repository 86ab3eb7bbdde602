"""The app's own log, read through the API: when SIGTERM reached it, whose requests it answered.

No API object carries the stop signal's moment (clusters.md §4.3): the demo app (demo/lifecycle.py)
logs ``SIGTERM received`` from its handler, and with its request log (demo/server.py) one
``request IP:PORT "GET ..."`` line per answered request. ``pods/log?follow=true&timestamps=true``
prefixes each line with the container runtime's RFC 3339 time (the node's clock), mapped onto the
runner's clock through wall time: exact on one machine, off by the node's clock skew on a cluster.

Each pod's log is followed from the moment the view sees it run until its container exits or the
run ends: a replaced pod's log goes with its Pod object, before the run is over.

What the peers give (``exact-app-log``): the app saw this very client address, so the connection
reached that pod. Only where nothing rewrites the client's address on the way: pod to ClusterIP
with iptables or nftables kube-proxy (no SNAT; hairpin and masquerade-all aside). hitless's own
proxies connect from the node's address, so against ``hitless up --api`` the app never sees the
runner's address and this evidence never fires (the differential test cannot exercise it); a
loopback client address is never matched (clusterview.py): a pod's own probes log loopback peers,
whose ports the runner's loopback connections may share.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp

from hitless.clock import Clock
from hitless.kube.client import ApiError, KubeClient
from hitless.tasks import cancel_and_wait, spawn
from hitless.verify.clusterrecord import pre_stop
from hitless.verify.timeline import PodLife, StopSignal, Timeline

SIGTERM_MARK = "SIGTERM received"
_REQUEST = re.compile(r'\brequest \[?([0-9A-Fa-f.:]+?)\]?:(\d+) "[A-Z]+ (\S+) ')
# A followed log may be quiet for as long as the pod gets no request.
_IDLE = 3600.0
# The log's time and the runner's clock are mapped through wall time: a line stamped this much
# before the connection opened may still be its request.
CLOCK_SLACK = 0.1
# A logged SIGTERM belongs to the estimated stop signal this near it (the estimate's error: the
# watch's latency, an exec preStop's real duration); farther, it is a stop the view missed.
SIGTERM_WINDOW = 5.0


@dataclass
class AppLog:
    # The pod and the pod object (a reused name's pods are told apart by it) whose log this is.
    pod: str = ""
    uid: str = ""
    # Runner-clock time of the first ``SIGTERM received`` line.
    sigterm: float | None = None
    # Client address -> (runner-clock time, request target) of each request the app logged from it.
    peers: dict[tuple[str, int], list[tuple[float, str]]] = field(default_factory=dict)

    def add(self, line: str, to_clock: Callable[[datetime], float]) -> None:
        stamp, _, text = line.partition(" ")
        at = _parse_stamp(stamp)
        if at is None:
            return
        t = to_clock(at)
        if SIGTERM_MARK in text and self.sigterm is None:
            self.sigterm = t
        m = _REQUEST.search(text)
        if m:
            self.peers.setdefault((m.group(1), int(m.group(2))), []).append((t, m.group(3)))


def _parse_stamp(stamp: str) -> datetime | None:
    """RFC 3339 with up to nanoseconds (Python reads microseconds)."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", stamp)
    if m is None:
        return None
    frac = (m.group(2) or "0")[:6].ljust(6, "0")
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    try:
        return datetime.fromisoformat(f"{m.group(1)}.{frac}{zone}").astimezone(UTC)
    except ValueError:
        return None


def apply_sigterm(logs: dict[str, AppLog], timeline: Timeline, namespace: str) -> int:
    """Each logged SIGTERM replaces the estimate (deletion, or a restart's Killing Event, plus
    preStop) nearest to it as its pod's stop signal, within ``SIGTERM_WINDOW``; with none near,
    it is one more stop signal. Returns how many pods it did so for."""
    done: set[int] = set()
    for key, log in logs.items():
        life = _life(timeline, f"{namespace}/{log.pod or key}", log.uid)
        if log.sigterm is None or life is None:
            continue
        sigterm = log.sigterm
        near = [i for i, s in enumerate(life.stop_signals) if abs(s.at - sigterm) <= SIGTERM_WINDOW]
        if near:
            i = min(near, key=lambda i: abs(life.stop_signals[i].at - sigterm))
            old = life.stop_signals[i]
            if old is life.termination_stop() and life.deleted is not None:
                # The deletion came before the kubelet's kill, which came a preStop before the
                # SIGTERM: a watch that saw it later than that was late (a starved runner).
                life.deleted = min(life.deleted, sigterm - pre_stop(life.pod, old.container))
            life.stop_signals[i] = StopSignal(sigterm, old.container, old.timeout)
        else:
            life.stop_signals.append(StopSignal(sigterm, "", float(life.grace or 30)))
        life.stop_signals.sort(key=lambda s: s.at)
        done.add(id(life))
    return len(done)


def _life(timeline: Timeline, key: str, uid: str) -> PodLife | None:
    if uid:
        found = next((p for p in timeline.lives() if p.key == key and p.uid == uid), None)
        if found is not None:
            return found
    return timeline.life(key)


def peer_index(
    logs: dict[str, AppLog], path: str | None = None
) -> dict[tuple[str, int], list[tuple[float, str]]]:
    """Client address -> (time, pod) of every logged request from it, in time order.

    ``path``: only the requests for the load's own target. Other clients share the pod's log (the
    kubelet's probes from inside the pod, other pods): a client address they happen to share with
    a runner's connection (another network namespace has its own ports) must not name a pod.
    """
    out: dict[tuple[str, int], list[tuple[float, str]]] = {}
    for key, log in logs.items():
        for peer, seen in log.peers.items():
            out.setdefault(peer, []).extend(
                (t, log.pod or key) for t, target in seen if path is None or target == path
            )
    for entries in out.values():
        entries.sort()
    return out


class AppLogs:
    """One follower per pod the view sees running; ``logs`` fills as lines arrive."""

    def __init__(self, client: KubeClient, namespace: str, clock: Clock) -> None:
        self._client = client
        self._namespace = namespace
        self._clock = clock
        self.logs: dict[str, AppLog] = {}
        # Pods whose log could not be read, with why (for the report).
        self.unread: dict[str, str] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def follow(self, pod: str, container: str, uid: str = "", restart: int = 0) -> None:
        """Follow this container instance's log (a follow ends with the instance: a restarted
        container, or a new pod of the same name, is followed anew)."""
        key = pod if not uid and not restart else f"{pod}/{uid}/{restart}"
        if key not in self._tasks:
            self.logs[key] = AppLog(pod=pod, uid=uid)
            self._tasks[key] = spawn(f"app-log {key}", self._follow(key, pod, container))

    def _to_clock(self, at: datetime) -> float:
        return self._clock.now() + (at - self._clock.wall()).total_seconds()

    async def _follow(self, key: str, pod: str, container: str) -> None:
        log = self.logs[key]
        path = f"/api/v1/namespaces/{self._namespace}/pods/{pod}/log"
        query = {"follow": "true", "timestamps": "true", "container": container}
        try:
            resp = await self._client.watch_lines(path, query, _IDLE)
            with contextlib.closing(resp):
                async for raw in resp.content:
                    log.add(raw.decode(errors="replace").rstrip("\n"), self._to_clock)
        except (ApiError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            # The pod went before its log was read, or the API refused: no evidence, not an error.
            self.unread[key] = str(exc) or type(exc).__name__

    async def stop(self) -> None:
        for task in self._tasks.values():
            await cancel_and_wait(task)
