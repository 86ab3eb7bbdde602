"""Connection records: what every hop of Service traffic writes down, for the verifier.

Each hop that routes a connection (the load balancer, a node's proxy) appends one
``ConnectionRecord`` when it has decided where the connection goes, and completes it when the
connection ends. ``hitless verify`` joins its own requests to these records by address: a
request's client socket address is the ``client`` of the first hop's record; a hop's ``upstream``
local address is the ``client`` of the next hop's record. So a failure is blamed on a node and a
pod for any application, without asking the application anything.

Times are the engine clock's ``monotonic()`` seconds, the same clock that stamps the verifier's
pod lifecycle timeline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Address = tuple[str, int]

# Where the hop sent the connection, or why it sent it nowhere:
#   "routed"   an upstream connection was established;
#   "refused"  no usable endpoint and the hop refuses (Cluster policy: kube-proxy's REJECT);
#   "dropped"  no usable endpoint and the hop drops (Local policy): the client sees a timeout;
#   "upstream-refused" / "upstream-reset" / "upstream-timeout"  the chosen endpoint (or node)
#              refused, reset or did not answer the upstream connect.
Outcome = Literal["routed", "refused", "dropped", "upstream-refused", "upstream-reset", "upstream-timeout"]

Hop = Literal["load-balancer", "proxy"]


@dataclass(slots=True)
class ConnectionRecord:
    id: int
    hop: Hop
    # The node whose proxy took the connection; for the load balancer, the node it chose (or None).
    node: str | None
    # "namespace/name" of the Service and the port's name ("" when unnamed).
    service: str
    port_name: str
    # The frontend the client dialled: "clusterIP", "nodePort", "loadBalancer" or "healthCheck".
    frontend: str
    client: Address
    accepted_at: float
    outcome: Outcome = "routed"
    # For a proxy hop: the endpoint pod ("namespace/name") and its address; None for the load balancer.
    pod: str | None = None
    endpoint: Address | None = None
    # The local address of the upstream socket (the next hop sees it as ``client``).
    upstream: Address | None = None
    connected_at: float | None = None
    closed_at: float | None = None
    # Who closed first: "client", "upstream", or "" while open / when never connected.
    closed_by: str = ""
    # An upstream error after connecting, e.g. "reset" (ECONNRESET from the pod).
    error: str = ""
    bytes_up: int = 0
    bytes_down: int = 0


@dataclass(frozen=True, slots=True)
class SyncedEndpoint:
    pod: str  # "namespace/name"
    address: Address
    ready: bool
    serving: bool
    terminating: bool
    node: str | None


@dataclass(frozen=True, slots=True)
class ProxySync:
    """A node's proxy applied a Service's endpoints at ``at``: from then on it routes to ``used``.

    ``used`` is what this node's proxy selects for new connections after the change (kube-proxy's
    categorisation: ready ones, else serving-terminating ones; only this node's for Local), so the
    verifier can tell when each node stopped routing to a pod.
    """

    node: str
    service: str
    at: float
    used: tuple[SyncedEndpoint, ...]
    # Added by the proxy: the set each kind of traffic uses on this node (``used`` is their
    # union): ``internal`` for the ClusterIP (internalTrafficPolicy), ``external`` for NodePort and
    # LoadBalancer traffic (externalTrafficPolicy); and the node's healthCheckNodePort count.
    internal: tuple[SyncedEndpoint, ...] = ()
    external: tuple[SyncedEndpoint, ...] = ()
    local_ready: int | None = None
    # What a new connection meets on this node's frontends: "route", "drop" (the client's
    # connect times out; the proxy never sees it, so no record is written) or "refuse" (the
    # kernel resets it; no record either). "" when the Service has no such frontend here.
    internal_mode: str = ""
    external_mode: str = ""


@dataclass
class ConnectionLog:
    """The run's records, in the order connections were accepted, shared by every hop."""

    records: list[ConnectionRecord] = field(default_factory=list)
    syncs: list[ProxySync] = field(default_factory=list)
    listeners: list[Callable[[ConnectionRecord], None]] = field(default_factory=list)
    sync_listeners: list[Callable[[ProxySync], None]] = field(default_factory=list)
    _next_id: int = 1

    def open(self, **fields: object) -> ConnectionRecord:
        record = ConnectionRecord(id=self._next_id, **fields)  # type: ignore[arg-type]
        self._next_id += 1
        self.records.append(record)
        return record

    def closed(self, record: ConnectionRecord) -> None:
        """Called by a hop once ``record`` is complete; listeners see each record once."""
        for listener in self.listeners:
            listener(record)

    def synced(self, sync: ProxySync) -> None:
        """Called by a node's proxy each time it applied a Service's endpoints."""
        self.syncs.append(sync)
        for listener in self.sync_listeners:
            listener(sync)

    def by_client(self) -> dict[Address, list[ConnectionRecord]]:
        index: dict[Address, list[ConnectionRecord]] = {}
        for record in self.records:
            index.setdefault(record.client, []).append(record)
        return index
