"""The Eviction API (``POST pods/NAME/eviction``): a graceful delete that a PodDisruptionBudget may
refuse. After pkg/registry/core/pod/storage/eviction.go (Create, canIgnorePDB, checkAndDecrement,
getPodDisruptionBudgets):

* a pod that is Pending, Succeeded, Failed or already being deleted is deleted outright;
* more than one budget selecting the pod: 500, "This pod has more than one PodDisruptionBudget,
  which the eviction subresource does not support.";
* a budget the disruption controller has not yet seen at its generation: 429 ("still being
  processed"); one with ``disruptionsAllowed: 0``: 429 "Cannot evict pod as it would violate the
  pod's disruption budget.", the cause naming how many healthy pods it needs and has;
* a pod that is not Ready while the budget is satisfied (or with ``unhealthyPodEvictionPolicy:
  AlwaysAllow``) is deleted without using up the budget;
* otherwise the budget's ``disruptionsAllowed`` is decremented and the pod recorded in
  ``disruptedPods`` (so the controller does not count it healthy meanwhile), then the pod deleted.

A client (``kubectl drain``) retries a 429 after a pause; ``verify``'s node-drain does.
"""

from __future__ import annotations

from hitless.api.poddisruptionbudget import update_disruption_allowed_condition
from hitless.api.types.pod import Pod
from hitless.api.types.policy import PodDisruptionBudget
from hitless.clock import Clock
from hitless.store.store import NotFound, Store

MAX_DISRUPTED_POD_SIZE = 2000
DISRUPTION_BUDGET_CAUSE = "DisruptionBudget"
TOO_MANY_REQUESTS_MESSAGE = "Cannot evict pod as it would violate the pod's disruption budget."


class EvictionRefused(Exception):
    """The API server's refusal: ``code`` is the HTTP status (429, 403, 500)."""

    def __init__(self, code: int, message: str, cause: str = "", budget: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.cause = cause  # the DisruptionBudget cause's message, when there is one
        self.budget = budget

    def __str__(self) -> str:
        return f"{self.message} {self.cause}".strip()


def _too_many_requests(budget: str, cause: str) -> EvictionRefused:
    return EvictionRefused(429, TOO_MANY_REQUESTS_MESSAGE, cause, budget)


def _can_ignore_pdb(pod: Pod) -> bool:
    return (
        pod.status.phase in ("Succeeded", "Failed", "Pending") or pod.metadata.deletion_timestamp is not None
    )


def budgets_of(store: Store, pod: Pod) -> list[PodDisruptionBudget]:
    """getPodDisruptionBudgets: a nil or empty selector matches nothing here."""
    out = []
    for obj in store.objects("PodDisruptionBudget", pod.namespace):
        if not isinstance(obj, PodDisruptionBudget):
            continue
        selector = obj.spec.selector
        if selector is None or not (selector.match_labels or selector.match_expressions):
            continue
        if selector.matches(pod.metadata.labels):
            out.append(obj)
    return out


def evict(
    store: Store, clock: Clock, namespace: str, name: str, grace_period_seconds: int | None = None
) -> Pod:
    """Evict a pod, or raise :class:`EvictionRefused` (or NotFound) as the API server answers."""
    pod = store.get_typed(Pod, "Pod", namespace, name)
    if pod is None:
        raise NotFound(f'pods "{name}" not found')
    if _can_ignore_pdb(pod):
        return _delete(store, pod, grace_period_seconds)
    budgets = budgets_of(store, pod)
    if len(budgets) > 1:
        raise EvictionRefused(
            500,
            "This pod has more than one PodDisruptionBudget, which the eviction subresource does not "
            "support.",
        )
    if budgets:
        pdb = budgets[0]
        status = pdb.status
        unhealthy_allowed = pdb.spec.unhealthy_pod_eviction_policy == "AlwaysAllow" and not pod.is_ready()
        budget_met = (
            status is not None
            and status.current_healthy >= status.desired_healthy
            and status.desired_healthy > 0
        )
        if not (unhealthy_allowed or (not pod.is_ready() and budget_met)):
            _check_and_decrement(store, clock, pod, pdb)
    return _delete(store, pod, grace_period_seconds)


def _check_and_decrement(store: Store, clock: Clock, pod: Pod, pdb: PodDisruptionBudget) -> None:
    status = pdb.status
    if status is None or (status.observed_generation or 0) < (pdb.metadata.generation or 0):
        raise _too_many_requests(
            pdb.name, f"The disruption budget {pdb.name} is still being processed by the server."
        )
    if status.disruptions_allowed < 0:
        raise EvictionRefused(
            403,
            f'poddisruptionbudgets.policy "{pdb.name}" is forbidden: pdb disruptions allowed is negative',
        )
    if len(status.disrupted_pods or {}) > MAX_DISRUPTED_POD_SIZE:
        raise EvictionRefused(
            403,
            f'poddisruptionbudgets.policy "{pdb.name}" is forbidden: DisruptedPods map too big - too many '
            "evictions not confirmed by PDB controller",
        )
    if status.disruptions_allowed == 0:
        raise _too_many_requests(
            pdb.name,
            f"The disruption budget {pdb.name} needs {status.desired_healthy} healthy pods and has "
            f"{status.current_healthy} currently",
        )
    updated = pdb.copy_deep()
    assert updated.status is not None
    updated.status.disruptions_allowed -= 1
    now = clock.wall()
    if updated.status.disruptions_allowed == 0:
        update_disruption_allowed_condition(updated.status, now)
    updated.status.disrupted_pods = {**(updated.status.disrupted_pods or {}), pod.name: now}
    store.update_status(updated)


def _delete(store: Store, pod: Pod, grace_period_seconds: int | None) -> Pod:
    deleted = store.delete("Pod", pod.namespace, pod.name, grace_period_seconds)
    assert isinstance(deleted, Pod)
    return deleted
