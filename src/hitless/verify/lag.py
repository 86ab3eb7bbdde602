"""How late the proxies applied the slice changes this machine's watch saw, as the answers show
it from both ends of a rollout's step.

- An old pod's late answers (``propagation``): a new connection that a replaced pod answered after
  its endpoint stopped being ready shows a proxy still routing it that long after the view moved
  on: a lower bound of that change's lag (only where the pod keeps serving, a preStop sleep).
- A new pod's first answer (``arrivals``): no new connection reaches a pod before a proxy has
  applied the slice state that made it ready, so the delay from that state in the view to the first
  new connection it answered is the lag of that change plus the wait for the proxy to pick it
  (about ``endpoints / new connections per second``). A rollout deletes an old pod right after a
  new one turns ready, and kube-proxy applies all the changes it received at once per sync, so the
  old endpoint's removal usually goes out with that very sync: this delay is the lag of the removal
  too, which the failures on the old pod alone measure only as far as a failing pod explains them.

A pure function of the requests and the recorded view.
"""

from __future__ import annotations

from hitless.verify.clusterrecord import ClusterView
from hitless.verify.generator import RequestResult
from hitless.verify.proxyorder import VIEW_SLACK, fresh_answers, versions


def propagation(requests: list[RequestResult], view: ClusterView) -> dict[str, float]:
    """Per replaced pod: how long after its endpoint stopped being ready (in this view) a *new*
    connection still reached it, and it answered (it names itself).

    A new connection goes where a node's proxy routes it at that moment, so this is a lower bound
    of this cluster's propagation delay, measured rather than assumed: the preStop sleep a pod
    needs is at least this long. Only pods that kept serving after their endpoint changed give a
    number (a pod that stops at once answers nothing late).
    """
    out: dict[str, float] = {}
    for r in requests:
        if r.pod is None or r.reused or r.failed or r.sent is None:
            continue
        changed = _stopped_ready(view, r.pod, r.sent)
        if changed is not None and r.sent > changed:
            out[r.pod] = max(out.get(r.pod, 0.0), round(r.sent - changed, 3))
    return dict(sorted(out.items()))


def _stopped_ready(view: ClusterView, pod: str, at: float) -> float | None:
    """When the endpoint of the pod of that name that existed at ``at`` last stopped being ready,
    if it was replaced (deleted): an earlier pod of a reused name's changes are not its."""
    life = view.timeline.life(f"{view.namespace}/{pod}", at)
    if life is None or life.deleted is None:
        return None
    born = life.created if life.created is not None else float("-inf")
    history = [c for c in view.endpoints.get(pod, []) if c.at >= born - VIEW_SLACK]
    for i, change in enumerate(history[1:], start=1):
        if history[i - 1].state == "ready" and change.state != "ready":
            return change.at
    return None


def arrivals(requests: list[RequestResult], view: ClusterView) -> dict[str, float]:
    """Per pod that became routable while the load ran: how long after the view's slice state
    that made it routable a new connection first reached it (and it answered, naming itself).

    Each is an upper bound of one proxy's lag for that change (it had applied it by then) and,
    with a few answers a second to each endpoint, close to it: the other end of ``propagation``.
    """
    answers = fresh_answers(requests)
    sends = [r.sent for r in requests if r.sent is not None]
    if not answers or not sends:
        return {}
    began = min(sends)
    history = versions(view)
    out: dict[str, float] = {}
    for i in range(1, len(history)):
        entered = history[i].at
        if entered <= began:
            continue
        for pod in sorted(history[i].routable - history[i - 1].routable):
            first = next((t for t, p in answers if p == pod and t >= entered - VIEW_SLACK), None)
            if first is not None and pod not in out:
                out[pod] = round(max(first - entered, 0.0), 3)
    return dict(sorted(out.items()))
