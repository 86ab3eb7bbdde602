"""``kubectl rollout status`` for StatefulSets and DaemonSets: kubectl's StatefulSetStatusViewer
and DaemonSetStatusViewer (k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go), word for word.
Returns (message, done); an OnDelete set has no rollout status, as kubectl says."""

from __future__ import annotations

from hitless.api.types.daemonset import DaemonSet
from hitless.api.types.statefulset import StatefulSet


def statefulset_status(s: StatefulSet) -> tuple[str, bool]:
    status = s.status
    if s.spec.update_strategy.type != "RollingUpdate":
        return "error: rollout status is only available for RollingUpdate strategy type", True
    if not status.observed_generation or (s.metadata.generation or 0) > status.observed_generation:
        return "Waiting for statefulset spec update to be observed...", False
    replicas = s.spec.replicas
    ready = status.ready_replicas or 0
    if replicas is not None and ready < replicas:
        return f"Waiting for {replicas - ready} pods to be ready...", False
    rolling = s.spec.update_strategy.rolling_update
    updated = status.updated_replicas or 0
    if rolling is not None:
        if replicas is not None and rolling.partition is not None and updated < replicas - rolling.partition:
            return (
                "Waiting for partitioned roll out to finish: "
                f"{updated} out of {replicas - rolling.partition} new pods have been updated...",
                False,
            )
        return f"partitioned roll out complete: {updated} new pods have been updated...", True
    if status.update_revision != status.current_revision:
        return (
            f"waiting for statefulset rolling update to complete {updated} pods at revision "
            f"{status.update_revision}...",
            False,
        )
    return (
        f"statefulset rolling update complete {status.current_replicas or 0} pods at revision "
        f"{status.current_revision}...",
        True,
    )


def daemonset_status(d: DaemonSet) -> tuple[str, bool]:
    status = d.status
    if d.spec.update_strategy.type != "RollingUpdate":
        return "error: rollout status is only available for RollingUpdate strategy type", True
    if (d.metadata.generation or 0) <= (status.observed_generation or 0):
        desired = status.desired_number_scheduled
        if (status.updated_number_scheduled or 0) < desired:
            return (
                f'Waiting for daemon set "{d.name}" rollout to finish: '
                f"{status.updated_number_scheduled or 0} out of {desired} new pods have been updated...",
                False,
            )
        if (status.number_available or 0) < desired:
            return (
                f'Waiting for daemon set "{d.name}" rollout to finish: '
                f"{status.number_available or 0} of {desired} updated pods are available...",
                False,
            )
        return f'daemon set "{d.name}" successfully rolled out', True
    return "Waiting for daemon set spec update to be observed...", False
