"""``pods/{name}/eviction``: the store's Eviction API (store/eviction.py, eviction.go's rules) in
the API server's answers: 429 TooManyRequests while a PodDisruptionBudget forbids it, with the
budget's cause in the Status details, as kube-apiserver words it."""

from __future__ import annotations

from hitless.apiserver import status
from hitless.clock import Clock
from hitless.store import eviction
from hitless.store.store import NotFound, Store

_REASONS = {429: "TooManyRequests", 403: "Forbidden", 500: "InternalError"}


def evict(
    store: Store, clock: Clock, namespace: str, name: str, grace_period_seconds: int | None = None
) -> None:
    """Evict a pod, or raise the ApiError the API server would answer with."""
    try:
        eviction.evict(store, clock, namespace, name, grace_period_seconds)
    except NotFound as exc:
        raise status.not_found("", "pods", name) from exc
    except eviction.EvictionRefused as exc:
        details = None
        if exc.cause:
            details = {"causes": [{"reason": "DisruptionBudget", "message": exc.cause}]}
        raise status.ApiError(
            exc.code, _REASONS.get(exc.code, "InternalError"), exc.message, details
        ) from exc
