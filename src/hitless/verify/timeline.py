"""The life of every pod during a run, as moments on the engine clock.

Built from three sources (``observe.py`` feeds it): the store's watch events (created, Ready
transitions, ``deletionTimestamp``, gone, Events), the runtime's calls (container started, the stop
signal — after preStop, which no store object shows —, exited, and whether that exit was the
SIGKILL at the grace deadline), and the proxies' ``ProxySync`` records (when each node's proxy
started and stopped routing to each pod). Everything here is data plus queries; attribution reads
it, never the live engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hitless.api.types.pod import Container, Pod
from hitless.proxy.records import ProxySync

# A SIGKILL by the runtime lands at the stop signal plus the grace period; allow for scheduling.
KILL_SLACK = 0.25

# Phases a pod goes through, as the report names them.
PENDING = "pending"  # created, no container running yet
STARTING = "starting"  # a container runs, the pod has never been Ready
READY = "ready"
NOT_READY = "not-ready"  # was Ready, is not (readiness failing), not terminating
RESTARTING = "restarting"  # a container got its stop signal (liveness, startup) without deletion
TERMINATING = "terminating"  # deletionTimestamp set, stop signal not sent yet (preStop)
STOPPING = "stopping"  # stop signal sent, containers not all exited
KILLED = "killed"  # SIGKILLed at the grace deadline
STOPPED = "stopped"  # every container exited after the stop signal
GONE = "gone"


@dataclass
class ContainerExit:
    at: float
    container: str
    exit_code: int | None
    # SIGKILLed by the runtime at the end of the grace period.
    killed: bool


@dataclass
class StopSignal:
    at: float
    container: str
    # The seconds the runtime waits before SIGKILL.
    timeout: float


@dataclass
class PodLife:
    namespace: str
    name: str
    # Which pod of that name: a StatefulSet's replacement pod reuses its predecessor's name.
    uid: str | None = None
    node: str | None = None
    ip: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    # The owner's kind and name (ReplicaSet/web-7d9c) and the ReplicaSet's owner, when known.
    owner: tuple[str, str] | None = None
    created: float | None = None
    started: list[tuple[float, str]] = field(default_factory=list)
    # [start, end) intervals of the Ready condition being True in the store (end None: still).
    ready: list[list[float | None]] = field(default_factory=list)
    deleted: float | None = None
    grace: int | None = None
    stop_signals: list[StopSignal] = field(default_factory=list)
    exits: list[ContainerExit] = field(default_factory=list)
    gone: float | None = None
    events: list[tuple[float, str, str]] = field(default_factory=list)
    # The last spec seen, for findings (preStop, grace period, probes, ports).
    pod: Pod | None = None
    # Per node: [start, end) intervals during which that node's proxy routed new connections here.
    routed: dict[str, list[list[float | None]]] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    # --- queries -------------------------------------------------------------------------------

    def ready_at(self, t: float) -> bool:
        return any(start is not None and start <= t and (end is None or t < end) for start, end in self.ready)

    def ever_ready_before(self, t: float) -> bool:
        return any(start is not None and start <= t for start, _ in self.ready)

    def first_ready(self) -> float | None:
        starts = [s for s, _ in self.ready if s is not None]
        return min(starts) if starts else None

    def stop_signal(self, after: float | None = None) -> StopSignal | None:
        """The first stop signal (at or after ``after``)."""
        for s in self.stop_signals:
            if after is None or s.at >= after:
                return s
        return None

    def termination_stop(self) -> StopSignal | None:
        """The stop signal of the pod's deletion (not a liveness restart before it)."""
        if self.deleted is None:
            return None
        return self.stop_signal(after=self.deleted)

    def kill(self) -> ContainerExit | None:
        return next((e for e in self.exits if e.killed), None)

    def exit_after(self, t: float) -> ContainerExit | None:
        return next((e for e in self.exits if e.at >= t), None)

    def ready_again(self, after: float) -> float | None:
        """When the pod next became Ready after ``after``."""
        return next((s for s, _ in self.ready if s is not None and s > after), None)

    def running_again(self, after: float) -> float | None:
        return next((at for at, _ in self.started if at > after), None)

    def phase_at(self, t: float) -> str:
        if self.gone is not None and t >= self.gone:
            return GONE
        if self.created is None or t < self.created:
            return PENDING
        if self.deleted is not None and t >= self.deleted:
            stop = self.termination_stop()
            if stop is None or t < stop.at:
                return TERMINATING
            exited = [e for e in self.exits if e.at >= stop.at and e.at <= t]
            if exited and len({e.container for e in exited}) >= len({s.container for s in self.stop_signals}):
                return KILLED if any(e.killed for e in exited) else STOPPED
            return STOPPING
        # A stop signal without deletion: a liveness or startup kill, until the container runs again.
        for stop in self.stop_signals:
            again = self.running_again(stop.at)
            if stop.at <= t and (again is None or t < again):
                return RESTARTING
        if self.ready_at(t):
            return READY
        if not self.started or t < self.started[0][0]:
            return PENDING
        return NOT_READY if self.ever_ready_before(t) else STARTING

    def routed_by(self, node: str, t: float) -> bool:
        return any(s is not None and s <= t and (e is None or t < e) for s, e in self.routed.get(node, []))

    def unrouted(self, node: str, after: float | None = None) -> float | None:
        """When ``node``'s proxy stopped routing to this pod (the first time at or after ``after``)."""
        for _, end in self.routed.get(node, []):
            if end is not None and (after is None or end >= after):
                return end
        return None

    def container_spec(self, name: str | None = None) -> tuple[int, Container] | None:
        if self.pod is None or not self.pod.spec.containers:
            return None
        for i, c in enumerate(self.pod.spec.containers):
            if name is None or c.name == name:
                return i, c
        return None


@dataclass(frozen=True)
class NodeView:
    """What one node's proxy did with the Service's new connections from ``at`` on (a ProxySync)."""

    at: float
    # "route", "drop" or "refuse" (proxy/records.py); "" when the node has no such frontend.
    internal_mode: str
    external_mode: str
    # Every endpoint used was a terminating one: kube-proxy's serving-terminating fallback, taken
    # only when no ready endpoint was left (for Local traffic: on this node).
    internal_fallback: bool
    external_fallback: bool
    # The node's healthCheckNodePort count (LoadBalancer + Local), else None.
    local_ready: int | None


@dataclass
class Timeline:
    pods: dict[str, PodLife] = field(default_factory=dict)
    # The run's own marks: ("rollout 1", t), ("load started", t)...
    marks: list[tuple[float, str]] = field(default_factory=list)
    # Per node, its proxy's successive views of the loaded Service (from ``apply_syncs``).
    views: dict[str, list[NodeView]] = field(default_factory=dict)
    # The load balancer's healthy nodes, each time they changed (sampled during the run).
    lb_health: list[tuple[float, frozenset[str]]] = field(default_factory=list)

    # Earlier pods of a name that a later pod took again (a StatefulSet's ordinals), oldest first.
    past: list[PodLife] = field(default_factory=list)

    def life(self, key: str, at: float | None = None) -> PodLife | None:
        """The pod of that name, or, with ``at``, the one that existed then (a StatefulSet's
        replacement pod has its predecessor's name; connection records name pods by name)."""
        if at is not None:
            for life in self.past:
                if (
                    life.key == key
                    and (life.created is None or life.created <= at)
                    and (life.gone is None or at < life.gone)
                ):
                    return life
        return self.pods.get(key)

    def lives(self) -> list[PodLife]:
        """Every pod of the run, earlier pods of a reused name included."""
        return [*self.past, *self.pods.values()]

    def renew(self, namespace: str, name: str, uid: str | None) -> PodLife:
        """The life of this pod object: a new one when ``uid`` is another pod of the same name."""
        life = self.ensure(namespace, name)
        if uid and life.uid and life.uid != uid:
            self.past.append(life)
            life = self.pods[life.key] = PodLife(namespace, name)
        if uid:
            life.uid = uid
        return life

    def ensure(self, namespace: str, name: str) -> PodLife:
        key = f"{namespace}/{name}"
        life = self.pods.get(key)
        if life is None:
            life = self.pods[key] = PodLife(namespace, name)
        return life

    def ready_count(self, t: float, keys: set[str] | None = None) -> int:
        return sum(
            1
            for p in self.lives()
            if (keys is None or p.key in keys) and p.ready_at(t) and (p.deleted is None or t < p.deleted)
        )

    def view(self, node: str, t: float) -> NodeView | None:
        """``node``'s proxy's view of the Service at ``t`` (the last sync at or before it)."""
        found = None
        for v in self.views.get(node, []):
            if v.at > t:
                break
            found = v
        return found

    def lb_dropped(self, node: str, after: float) -> float | None:
        """When the load balancer stopped sending to ``node``, at or after ``after``."""
        for at, healthy in self.lb_health:
            if at >= after and node not in healthy:
                return at
        return None

    def note_lb_health(self, t: float, healthy: frozenset[str]) -> None:
        if not self.lb_health or self.lb_health[-1][1] != healthy:
            self.lb_health.append((t, healthy))

    # --- building from the proxies' syncs --------------------------------------------------------

    def apply_syncs(self, syncs: list[ProxySync], service: str | None = None) -> None:
        """Turn each node's successive endpoint sets into per-pod routing intervals."""
        current: dict[tuple[str, str], set[str]] = {}
        for sync in sorted(syncs, key=lambda s: s.at):
            if service is not None and sync.service != service:
                continue
            scope = (sync.node, sync.service)
            before = current.get(scope, set())
            after = {e.pod for e in sync.used}
            for pod in after - before:
                life = self.pods.get(pod)
                if life is not None:
                    life.routed.setdefault(sync.node, []).append([sync.at, None])
            for pod in before - after:
                life = self.pods.get(pod)
                if life is not None and life.routed.get(sync.node):
                    life.routed[sync.node][-1][1] = sync.at
            current[scope] = after
            if service is not None:
                self.views.setdefault(sync.node, []).append(
                    NodeView(
                        sync.at,
                        sync.internal_mode,
                        sync.external_mode,
                        bool(sync.internal) and not any(e.ready for e in sync.internal),
                        bool(sync.external) and not any(e.ready for e in sync.external),
                        sync.local_ready,
                    )
                )
