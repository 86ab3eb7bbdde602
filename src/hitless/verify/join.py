"""A request's route: the hops that carried its connection, joined from the proxies' records.

The load generator knows each request's client address; each hop's record (``proxy.records``)
knows its client and its ``upstream``. attribute.py reads the route's last hop for the node and
the pod, and the load balancer's hop for the node it dialled.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hitless.proxy.records import Address, ConnectionRecord
from hitless.verify.generator import RequestResult

# The records and the requests are stamped by different tasks of one event loop; a hop may note
# an accept a little after the client has already written.
SLACK = 0.05


@dataclass(frozen=True)
class Route:
    """The hops that carried a request's connection, first to last."""

    hops: tuple[ConnectionRecord, ...] = ()

    @property
    def last(self) -> ConnectionRecord | None:
        return self.hops[-1] if self.hops else None

    @property
    def node(self) -> str | None:
        for hop in reversed(self.hops):
            if hop.node:
                return hop.node
        return None

    @property
    def pod(self) -> str | None:
        last = self.last
        return last.pod if last is not None else None

    @property
    def load_balancer(self) -> ConnectionRecord | None:
        return next((h for h in self.hops if h.hop == "load-balancer"), None)


def join(requests: list[RequestResult], records: Iterable[ConnectionRecord]) -> list[Route]:
    """Each request's hops: its client address → the first hop, each ``upstream`` → the next.

    An address alone does not name one connection: the load balancer binds its upstream socket
    with ``IP_BIND_ADDRESS_NO_PORT`` (proxy/forward.py), so the kernel picks the port per
    destination and the same 127.0.0.1 port can at once be a client's connection to the load
    balancer and the load balancer's connection to a node (or two of its connections to two
    nodes). So the next hop is looked up by the whole connection: from that address, on the node
    the hop dialled, accepted once the hop had dialled; and a node's record of a load balancer's
    connection is never a request's first hop.

    "Once the hop had dialled" is bounded by the hop's ``accepted_at``: a hop dials in the callback
    that stamps it, on the same clock, so the node's accept can only come later. Its
    ``connected_at`` is no bound: it is stamped by a later callback of the loop, which on a loaded
    machine runs after the node's own accept callback (seen 14 ms after it, so at 50 ms of slack a
    route ended at the load balancer and a pod's failure was nobody's).
    """
    ordered = sorted(records, key=lambda r: r.accepted_at)
    by_client: dict[Address, list[ConnectionRecord]] = {}
    for record in ordered:
        by_client.setdefault(record.client, []).append(record)

    def next_hop(hop: ConnectionRecord, before: float) -> ConnectionRecord | None:
        """The first record of the connection ``hop`` dialled, accepted by ``before``."""
        if hop.upstream is None:
            return None
        for record in by_client.get(hop.upstream, []):
            if record.accepted_at > before:
                break
            if record.accepted_at >= hop.accepted_at and record.hop == "proxy" and record.node == hop.node:
                return record
        return None

    dialled = {
        id(found)
        for hop in ordered
        if hop.hop == "load-balancer" and (found := next_hop(hop, float("inf"))) is not None
    }

    def first(address: Address | None, after: float, before: float) -> ConnectionRecord | None:
        found = None
        for record in by_client.get(address, []) if address is not None else []:
            if record.accepted_at > before:
                break
            if record.accepted_at >= after and id(record) not in dialled:
                found = record
        return found

    routes = []
    for request in requests:
        end = (request.done if request.done is not None else float("inf")) + SLACK
        # A fresh connection is opened when its request is due: a record from before that is an
        # earlier connection from the same port. The kernel hands a port out again at once after
        # a refused connect or a close the server began, so a refused request (no record: the
        # frontend had no endpoint) would otherwise take a closed connection's route.
        start = -float("inf") if request.reused else request.intended - SLACK
        hops: list[ConnectionRecord] = []
        hop = first(request.client, start, end)
        while hop is not None and len(hops) < 8:
            hops.append(hop)
            hop = next_hop(hop, end)
        routes.append(Route(tuple(hops)))
    return routes
