"""What a failed new connection's kind says about the endpoint it met, from the watch view.

A refusal or a reset that came at once is a TCP RST: some host that was up answered for the
endpoint's address. A pod's network is up until the kubelet stops its sandbox, which it does in
SyncTerminatingPod, before the pod's terminal phase is written and long before the pod object is
deleted (kubernetes/kubernetes ``pkg/kubelet/kubelet.go`` ``SyncTerminatingPod``: ``killPod``
kills the containers, then ``StopPodSandbox`` tears the network down; the status manager deletes
the object only once ``PodResourcesAreReclaimed``). So once the view saw a pod object removed
after a terminal phase, the pod's address answered nothing more: a connection sent after that
which a RST ended did not meet that pod. hitless's node does the same (kubelet/syncer.py: the
sandbox goes before the pod is deleted; a proxy's connection to a gone pod's network times out,
proxy/forward.py).

A force deletion (``--grace-period=0 --force``) removes the object while the pod still runs: the
view then saw no terminal phase, and the pod is not taken as gone.

A slow reset is not an answer from the pod (hitless's proxies reset a client whose upstream never
answered after 3 s, as a load balancer may); nor is a refusal by the network (``connect:`` with
``EHOSTUNREACH`` and the like: a gone pod's address may earn exactly that).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from hitless.verify.generator import RequestResult

if TYPE_CHECKING:
    from hitless.verify.clusterrecord import ClusterView

# A RST answers a SYN or a request within a round trip; past this it is someone's time-out.
QUICK_RST = 1.0
# A request due while another was out, sent this much late: the runner itself was starved then,
# and a time-out may be its own (its loop read the answer too late), not the pod's.
STALL = 1.0
TERMINAL = ("Succeeded", "Failed")
# Per pod: the first and last send of a new connection it refused (``refusals``).
Refusals = Mapping[str, tuple[float, float]]


def answered_by_rst(r: RequestResult) -> bool:
    """The failure was a RST sent at once by a host that was up: refused, or reset before any
    response byte, within ``QUICK_RST`` of the send."""
    if r.error not in ("refused", "reset") or r.sent is None or r.done is None:
        return False
    if r.error == "refused" and r.detail.startswith("connect:"):
        return False  # the network refused (no route to host): the generator's wording
    return r.done - r.sent <= QUICK_RST


def network_gone(view: ClusterView, pod: str, t: float) -> bool:
    """The view saw, by ``t``, the pod object of that name that existed up to then removed after
    its terminal phase: its sandbox (and address) had been torn down before."""
    gone = gone_at(view, pod, t)
    return gone is not None and gone <= t


def gone_at(view: ClusterView, pod: str, t: float) -> float | None:
    """When the view saw the pod object of that name that existed at ``t`` removed after its
    terminal phase (its network torn down before), if it was."""
    life = view.timeline.life(f"{view.namespace}/{pod}", t)
    if life is None or life.gone is None or life.pod is None:
        return None
    return life.gone if life.pod.status.phase in TERMINAL else None


def could_have_met(view: ClusterView, pod: str, r: RequestResult, refused: Refusals | None = None) -> bool:
    """False when the failure's kind rules ``pod`` out: a quick RST after its network was gone,
    or any other failure of a new connection sent while the pod was refusing (``refusals``)."""
    sent = r.sent if r.sent is not None else r.intended
    if answered_by_rst(r):
        return not network_gone(view, pod, sent)
    window = (refused or {}).get(pod)
    if window is None or r.reused:
        return True
    first, last = window
    return not (first <= sent <= last and not _restarted(view, pod, first, last))


def refusals(blamed: Iterable[tuple[RequestResult, str | None]]) -> dict[str, tuple[float, float]]:
    """Per pod: the first and the last send of a new connection that a quick RST ended and the
    blame put on it.

    Between the two the pod was refusing every new connection: its network was up (it sent the
    last RST), and a listener once closed stays closed until its container starts again (a
    restart, which the view shows). So a new connection sent in between that failed otherwise
    (a timeout: no RST came) did not reach it. Not so for an app that stops accepting but keeps
    its socket under ``tcp_abort_on_overflow`` (RSTs for the overflow, time-outs for the queue):
    an inference, as the blames it comes from."""
    out: dict[str, tuple[float, float]] = {}
    for r, pod in blamed:
        if pod is None or r.reused or r.sent is None or not answered_by_rst(r):
            continue
        first, last = out.get(pod, (r.sent, r.sent))
        out[pod] = (min(first, r.sent), max(last, r.sent))
    return out


class Lateness:
    """How late the runner sent its requests: open-loop load sends each at its due time, so a
    late send shows the runner's own loop starved (CPU, a pause), when its reading of answers was
    late too."""

    def __init__(self, requests: list[RequestResult]) -> None:
        ordered = sorted(requests, key=lambda r: r.intended)
        self._due = [r.intended for r in ordered]
        self._late = [(r.sent if r.sent is not None else r.intended) - r.intended for r in ordered]

    def during(self, r: RequestResult) -> float:
        """The latest send of a request due while ``r`` was out."""
        end = r.done if r.done is not None else r.intended
        lo, hi = bisect.bisect_left(self._due, r.intended), bisect.bisect_right(self._due, end)
        return max(self._late[lo:hi], default=0.0)

    def own_timeout(self, r: RequestResult) -> float | None:
        """For a time-out while the runner was starved (``STALL``), how late it was."""
        if r.error != "timeout":
            return None
        late = self.during(r)
        return late if late >= STALL else None


def _restarted(view: ClusterView, pod: str, first: float, last: float) -> bool:
    return any(x.pod == pod and first <= x.at <= last for x in view.restarts)
