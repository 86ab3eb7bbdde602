"""``pods/{name}/eviction``: a delete that respects PodDisruptionBudgets.

pkg/registry/core/pod/storage/eviction.go: a pod that is terminal, or not yet scheduled... is
deleted at once; otherwise the one PodDisruptionBudget selecting it (more than one is an error)
must have been observed by its controller and allow a disruption, which the eviction takes
(``status.disruptionsAllowed`` decremented, the pod recorded in ``status.disruptedPods``), or
the answer is 429 TooManyRequests with the budget's reason. Budgets are read from their JSON, so
whichever module keeps them typed, their rules are the store's.
"""

from __future__ import annotations

from typing import Any

from hitless.api.types.base import format_time
from hitless.api.types.meta import K8sObject, LabelSelector
from hitless.api.types.pod import Pod
from hitless.apiserver import status
from hitless.apiserver.writes import write_status
from hitless.clock import Clock
from hitless.store.store import Store

MAX_DISRUPTED_POD_SIZE = 2000
_VIOLATES = "Cannot evict pod as it would violate the pod's disruption budget."


def _budgets(store: Store, pod: Pod) -> list[K8sObject]:
    out = []
    for pdb in store.objects("PodDisruptionBudget", pod.namespace):
        selector = (pdb.to_json().get("spec") or {}).get("selector")
        if not isinstance(selector, dict):
            continue
        # An empty selector matches every pod in policy/v1.
        if LabelSelector.model_validate(selector).matches(pod.metadata.labels):
            out.append(pdb)
    return out


def evict(
    store: Store, clock: Clock, namespace: str, name: str, grace_period_seconds: int | None = None
) -> K8sObject:
    """Evict a pod: the pod after deletion began, or an ApiError (404; 429 while a budget forbids
    it)."""
    pod = store.get_typed(Pod, "Pod", namespace, name)
    if pod is None:
        raise status.not_found("", "pods", name)
    terminal = pod.status.phase in ("Succeeded", "Failed")
    pending = pod.status.phase == "Pending" or not pod.spec.node_name
    if not terminal and not pending and pod.metadata.deletion_timestamp is None:
        budgets = _budgets(store, pod)
        if len(budgets) > 1:
            raise status.ApiError(
                500,
                "InternalError",
                "This pod has more than one PodDisruptionBudget, "
                "which the eviction subresource does not support.",
            )
        if budgets:
            _take_disruption(store, clock, budgets[0], pod)
    return store.delete("Pod", pod.namespace, pod.name, grace_period_seconds)


def _take_disruption(store: Store, clock: Clock, pdb: K8sObject, pod: Pod) -> None:
    data: dict[str, Any] = pdb.to_json()
    st = data.get("status") or {}
    name = pdb.name
    if (st.get("observedGeneration") or 0) < (pdb.metadata.generation or 0) or "disruptionsAllowed" not in st:
        raise status.too_many_requests(
            _VIOLATES, cause=f"The disruption budget {name} is still being processed by the server."
        )
    allowed = int(st.get("disruptionsAllowed") or 0)
    if allowed < 0:
        raise status.ApiError(403, "Forbidden", "pdb disruptions allowed is negative")
    disrupted = dict(st.get("disruptedPods") or {})
    if len(disrupted) > MAX_DISRUPTED_POD_SIZE:
        raise status.ApiError(
            403, "Forbidden", "DisruptedPods map too big - too many evictions not confirmed by PDB controller"
        )
    if allowed == 0:
        raise status.too_many_requests(
            _VIOLATES,
            cause=f"The disruption budget {name} needs {st.get('desiredHealthy', 0)} healthy pods and has "
            f"{st.get('currentHealthy', 0)} currently",
        )
    disrupted[pod.name] = format_time(clock.wall())
    data["status"] = {**st, "disruptionsAllowed": allowed - 1, "disruptedPods": disrupted}
    write_status(store, type(pdb).model_validate(data))
