"""Cluster mode's record of what the watches delivered, on the runner's clock (the view that
verify/clusterview.py blames from).

Each pod object gets its own life, keyed by its UID as the local timeline keys a reused name
(timeline.Timeline.renew): a StatefulSet's web-0 deleted and created again is two lives, each
with its own phases and blame. A container restart (a liveness or startup kill, a crash) goes
into the life as the local TimelineRecorder (observe.py) writes it, from what the API shows:

- the kubelet's ``Killing`` Event for that container, on a pod not being deleted: the moment the
  kubelet began the kill (it records the Event before the preStop hook and the stop signal:
  kubernetes/kubernetes ``pkg/kubelet/kuberuntime/kuberuntime_container.go`` ``killContainer``).
  The Event's name is ``<pod>.<hex of UnixNano>`` of its first occurrence (client-go
  ``tools/record/event.go`` ``makeEvent`` with ``util.GenerateEventName``), a sharper stamp than
  its arrival; a repeat keeps the first one's name (``events_cache.go`` ``eventObserve``), so a
  repeat is stamped by its ``series.lastObservedTime`` (MicroTime) when the recorder writes one,
  else by its arrival. The stop signal is that moment plus the preStop sleep, as for a deletion
  (clusters.md §4.3); the app's own ``SIGTERM received`` line replaces it (applog.py).
- ``containerStatuses``: ``restartCount`` growing with ``state.running`` (the container runs
  again), ``lastState.terminated`` / ``state.terminated`` (it exited, with its exit code).
- the Ready condition turning false and true again (as for every pod).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hitless.api.types.pod import Pod
from hitless.clock import Clock
from hitless.verify.timeline import KILL_SLACK, ContainerExit, PodLife, StopSignal, Timeline

# An Event stamped (by its name or series) more than this before it arrived is taken as a skewed
# node clock: its arrival is used instead. A watch delivers in milliseconds to a second.
EVENT_WINDOW = 10.0
# A stamp a little after the arrival is the two clocks' disagreement on one machine.
STAMP_SLACK = 0.1
DEFAULT_GRACE = 30


@dataclass
class EndpointState:
    at: float
    # "ready", "terminating" (serving or not), "not-ready", or "absent" (left every slice).
    state: str


@dataclass
class Restart:
    """One container kill or exit of a pod not being deleted, as the view learnt it."""

    pod: str
    uid: str | None
    container: str
    # When the kill began (the Killing Event) or, for a crash, the earliest the exit can have been.
    at: float
    # "event-name", "event-series" or "event-arrival" (the Killing Event), "status" (a crash).
    stamped_by: str
    message: str


@dataclass
class ClusterView:
    """What the Pod, EndpointSlice and Event watches delivered, stamped with the runner's clock."""

    namespace: str
    timeline: Timeline = field(default_factory=Timeline)
    endpoints: dict[str, list[EndpointState]] = field(default_factory=dict)
    # Maps API timestamps (node or control-plane wall time) onto the runner's clock; None: arrival.
    clock: Clock | None = None
    restarts: list[Restart] = field(default_factory=list)
    _slices: dict[str, dict[str, str]] = field(default_factory=dict)
    # Called with (pod, container, uid, restartCount) each time a container is seen running:
    # its log can be read (each instance's log ends with it).
    on_running: Callable[[str, str, str, int], None] | None = None
    _running: set[tuple[str, str, int]] = field(default_factory=set)
    _exits: set[tuple[str, str, int]] = field(default_factory=set)
    _event_counts: dict[str, int] = field(default_factory=dict)

    def life_of(self, name: str, uid: str | None) -> PodLife:
        """The life of this pod object: an earlier one of that name when ``uid`` is its, a new
        one when ``uid`` is another pod's (a reused name)."""
        current = self.timeline.pods.get(f"{self.namespace}/{name}")
        if uid and current is not None and current.uid and current.uid != uid:
            past = next((p for p in self.timeline.past if p.name == name and p.uid == uid), None)
            if past is not None:
                return past
        return self.timeline.renew(self.namespace, name, uid or None)

    def on_pod(self, kind: str, obj: dict[str, Any], at: float) -> None:
        meta = obj.get("metadata", {})
        name = meta.get("name", "")
        life = self.life_of(name, meta.get("uid"))
        if kind == "DELETED":
            life.gone = life.gone or at
            if life.ready and life.ready[-1][1] is None:
                life.ready[-1][1] = at
            return
        life.labels = meta.get("labels") or {}
        life.node = obj.get("spec", {}).get("nodeName") or life.node
        life.ip = obj.get("status", {}).get("podIP") or life.ip
        if life.created is None:
            life.created = at
        with contextlib.suppress(ValueError):
            life.pod = Pod.model_validate(obj)
        if meta.get("deletionTimestamp") and life.deleted is None:
            # The kubelet's Killing of the deletion may have come first (this watch late): the
            # deletion was before it.
            life.deleted = min([at, *(t for t, why, said in life.events if _deletion_kill(why, said))])
            life.grace = meta.get("deletionGracePeriodSeconds")
            # No API object carries the stop signal's moment: it is estimated as the deletion
            # plus the preStop sleep (exact for the sleep action), as clusters.md §4.3 says.
            life.stop_signals.append(
                StopSignal(life.deleted + pre_stop(life.pod), "", float(life.grace or 30))
            )
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in obj.get("status", {}).get("conditions") or []
        )
        if life.pod is not None and life.pod.status.container_statuses:
            self._containers(life, life.pod, at)
        elif not life.started and obj.get("status", {}).get("phase") == "Running":
            # No container statuses (a sparse object): the pod's phase says something runs.
            life.started.append((at, ""))
            containers = obj.get("spec", {}).get("containers") or [{}]
            if self.on_running is not None and containers[0].get("name"):
                self.on_running(name, containers[0]["name"], life.uid or "", 0)
        open_ = life.ready and life.ready[-1][1] is None
        if ready and not open_:
            life.ready.append([at, None])
        elif not ready and open_:
            life.ready[-1][1] = at

    def _containers(self, life: PodLife, pod: Pod, at: float) -> None:
        """Starts and exits from ``containerStatuses``, each instance once (by restartCount), as
        observe.TimelineRecorder reads them without a runtime to watch."""
        ident = life.uid or life.key
        for status in pod.status.container_statuses or []:
            for term, count in (
                (status.state.terminated, status.restart_count),
                (status.last_state.terminated, status.restart_count - 1),
            ):
                if term is None or count < 0 or (ident, status.name, count) in self._exits:
                    continue
                self._exits.add((ident, status.name, count))
                # This instance's start, and the stop signals since (none: it exited by itself).
                starts = [t for t, c in life.started if c in ("", status.name) and t <= at]
                began = starts[-1] if starts else float("-inf")
                stops = [
                    s
                    for s in life.stop_signals
                    if began <= s.at <= at + KILL_SLACK and s.container in ("", status.name)
                ]
                stop = stops[-1] if stops else None
                deadline = stop.at + stop.timeout - KILL_SLACK if stop is not None else None
                killed = term.exit_code == 137 and deadline is not None and at >= deadline
                # A crash (no stop signal) is dated as early as it can have been: finishedAt is in
                # whole seconds (metav1.Time), the exit was at or after it and after the instance's
                # start; the status's arrival bounds it above. An exit after a stop signal is taken
                # at its arrival, as observe.py reads statuses (the stop signal dates the restart).
                moment = at
                if stop is None and term.finished_at is not None and self.clock is not None:
                    floor = self._to_clock(term.finished_at)
                    moment = min(at, max([floor, *starts[-1:]]))
                life.exits.append(ContainerExit(moment, status.name, term.exit_code, killed))
                if stop is None and (life.deleted is None or moment < life.deleted):
                    why = term.reason or f"exit code {term.exit_code}"
                    self.restarts.append(
                        Restart(life.name, life.uid, status.name, moment, "status", f"exited: {why}")
                    )
            # After the exits: the previous instance's start bounds its exit, not this one's.
            instance = (ident, status.name, status.restart_count)
            if status.state.running is not None and instance not in self._running:
                self._running.add(instance)
                life.started.append((at, status.name))
                if self.on_running is not None:
                    self.on_running(life.name, status.name, life.uid or "", status.restart_count)

    def on_event(self, kind: str, obj: dict[str, Any], at: float) -> None:
        """A Pod's Event: into its life's events, each occurrence once; a ``Killing`` of a pod
        not being deleted is a container restart."""
        involved = obj.get("involvedObject") or {}
        if kind == "DELETED" or involved.get("kind") != "Pod":
            return
        name = obj.get("metadata", {}).get("name", "")
        count = int(obj.get("count") or 1)
        before = self._event_counts.get(name)
        if before is not None and count <= before:
            return  # the same occurrence again (a re-list, another field changed)
        self._event_counts[name] = count
        first = before is None and count == 1
        at, how = self._stamp(obj, at, first)
        life = self.life_of(involved.get("name", ""), involved.get("uid"))
        reason, message = obj.get("reason", ""), obj.get("message", "")
        life.events.append((at, reason, message))
        if reason != "Killing":
            return
        path = involved.get("fieldPath") or ""
        container = path[len("spec.containers{") : -1] if path.startswith("spec.containers{") else ""
        if (life.deleted is not None and life.deleted <= at) or _deletion_kill(reason, message):
            # The kubelet stopping the pod as a whole (a deletion: "Stopping container NAME"). It
            # acts after its own watch heard of the deletion: its Killing dates the stop signal
            # better than the deletion seen here does, and when stamped by the kubelet (its name
            # or series) and earlier than this watch saw the deletion, it dates the deletion too
            # (this watch was late: a starved runner).
            stop = life.termination_stop()
            if stop is not None and not stop.container:
                assert life.deleted is not None
                index = life.stop_signals.index(stop)
                kill = at + pre_stop(life.pod, container)
                if how != "event-arrival" and at < life.deleted:
                    life.deleted = at
                else:
                    kill = max(stop.at, kill)
                life.stop_signals[index] = StopSignal(kill, container, stop.timeout)
            return
        # The exit may have been seen first (this Event's watch lagging): taken for a crash then,
        # it was this kill's.
        self.restarts = [
            r
            for r in self.restarts
            if not (
                r.stamped_by == "status" and r.uid == life.uid and r.container == container and r.at >= at
            )
        ]
        self.restarts.append(Restart(life.name, life.uid, container, at, how, message))
        delay, grace = pre_stop(life.pod, container), kill_grace(life.pod, container, message)
        life.stop_signals.append(StopSignal(at + delay, container, float(max(grace - delay, 2))))
        life.stop_signals.sort(key=lambda s: s.at)

    def _stamp(self, obj: dict[str, Any], arrival: float, first: bool) -> tuple[float, str]:
        """The occurrence's moment: the name's UnixNano for a first occurrence, the series'
        lastObservedTime for a repeat, each when within EVENT_WINDOW before the arrival."""
        if self.clock is None:
            return arrival, "event-arrival"
        candidates: list[tuple[datetime, str]] = []
        _, _, tail = obj.get("metadata", {}).get("name", "").rpartition(".")
        if first and tail:
            with contextlib.suppress(ValueError, OverflowError, OSError):
                candidates.append((datetime.fromtimestamp(int(tail, 16) / 1e9, UTC), "event-name"))
        series = (obj.get("series") or {}).get("lastObservedTime")
        if not first and series:
            with contextlib.suppress(ValueError):
                candidates.append((datetime.fromisoformat(series.replace("Z", "+00:00")), "event-series"))
        for wall, how in candidates:
            t = self._to_clock(wall)
            if arrival - EVENT_WINDOW <= t <= arrival + STAMP_SLACK:
                return min(t, arrival), how
        return arrival, "event-arrival"

    def _to_clock(self, wall: datetime) -> float:
        assert self.clock is not None
        return self.clock.now() + (wall - self.clock.wall()).total_seconds()

    def on_slice(self, kind: str, obj: dict[str, Any], at: float) -> None:
        name = obj.get("metadata", {}).get("name", "")
        states: dict[str, str] = {}
        if kind != "DELETED":
            for ep in obj.get("endpoints") or []:
                pod = (ep.get("targetRef") or {}).get("name")
                if not pod:
                    continue
                cond = ep.get("conditions") or {}
                if cond.get("terminating"):
                    states[pod] = "terminating"
                elif cond.get("ready", True):
                    states[pod] = "ready"
                else:
                    states[pod] = "not-ready"
        before = self._slices.get(name, {})
        self._slices[name] = states
        for pod in set(before) | set(states):
            now = self._state(pod)
            history = self.endpoints.setdefault(pod, [])
            if not history or history[-1].state != now:
                history.append(EndpointState(at, now))

    def _state(self, pod: str) -> str:
        seen = [s[pod] for s in self._slices.values() if pod in s]
        for state in ("ready", "not-ready", "terminating"):
            if state in seen:
                return state
        return "absent"

    def endpoint_at(self, pod: str, t: float) -> tuple[str, float | None]:
        """The endpoint's state at ``t`` and since when it is so."""
        state, since = "absent", None
        for change in self.endpoints.get(pod, []):
            if change.at > t:
                break
            state, since = change.state, change.at
        return state, since


def _deletion_kill(reason: str, message: str) -> bool:
    """The kubelet's Killing of a pod being deleted (killPodWithSyncResult's message)."""
    return reason == "Killing" and message.startswith("Stopping container")


def pre_stop(pod: Pod | None, container: str = "") -> float:
    """The preStop sleep of ``container`` (the first with one when ""): exact for the sleep
    action, an estimate for an exec ``sleep N``."""
    if pod is None:
        return 0.0
    for c in pod.spec.containers:
        if container and c.name != container:
            continue
        handler = c.lifecycle.pre_stop if c.lifecycle is not None else None
        if handler is not None and handler.sleep is not None:
            return float(handler.sleep.seconds)
        argv = handler.exec.command if handler is not None and handler.exec is not None else None
        if argv and len(argv) >= 2 and argv[-2].endswith("sleep"):
            try:
                return float(argv[-1])
            except ValueError:
                return 0.0
    return 0.0


def kill_grace(pod: Pod | None, container: str, message: str) -> int:
    """The grace period of a probe's kill: the probe's own terminationGracePeriodSeconds, else
    the pod's (kuberuntime_container.go ``setTerminationGracePeriod``)."""
    if pod is None:
        return DEFAULT_GRACE
    spec = next((c for c in pod.spec.containers if c.name == container), None)
    probe = None
    if spec is not None and "liveness probe" in message:
        probe = spec.liveness_probe
    elif spec is not None and "startup probe" in message:
        probe = spec.startup_probe
    if probe is not None and probe.termination_grace_period_seconds is not None:
        return probe.termination_grace_period_seconds
    tgps = pod.spec.termination_grace_period_seconds
    return tgps if tgps is not None else DEFAULT_GRACE


def restart_notes(view: ClusterView, origin: float) -> list[dict[str, Any]]:
    """The restarts the view learnt, for report.json's ``cluster.restarts``: which container, when
    (report seconds), how the moment is known and what the kubelet said."""
    return [
        {
            "pod": f"{view.namespace}/{r.pod}",
            "uid": r.uid,
            "container": r.container,
            "time": round(r.at - origin, 3),
            "stampedBy": r.stamped_by,
            "message": r.message,
        }
        for r in view.restarts
    ]
