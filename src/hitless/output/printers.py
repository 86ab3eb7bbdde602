"""kubectl's printing of pods and events: the STATUS, READY, RESTARTS and AGE columns.

Ported from kubectl's pod printer (pkg/printers/internalversion/printers.go printPod) and
apimachinery's duration.HumanDuration, so that a row reads as ``kubectl get pods`` would print it.
"""

from __future__ import annotations

from datetime import datetime

from hitless.api.types.apps import Deployment
from hitless.api.types.pod import Pod


def human_duration(seconds: float) -> str:
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def pod_row(pod: Pod, now: datetime) -> tuple[str, str, str, str, str]:
    """(NAME, READY, STATUS, RESTARTS, AGE)."""
    status = pod.status
    spec = pod.spec
    total = len(spec.containers)
    ready = 0
    restarts = 0
    sidecar_restarts = 0
    last_restart: datetime | None = None
    last_sidecar_restart: datetime | None = None
    reason = status.reason or status.phase or ""
    init_specs = {c.name: c for c in spec.init_containers or []}
    total += sum(1 for c in spec.init_containers or [] if c.restart_policy == "Always")
    initializing = False
    for i, st in enumerate(status.init_container_statuses or []):
        spec_c = init_specs.get(st.name)
        sidecar = spec_c is not None and spec_c.restart_policy == "Always"
        restarts += st.restart_count
        finished = st.last_state.terminated.finished_at if st.last_state.terminated else None
        last_restart = _later(last_restart, finished)
        if sidecar:
            sidecar_restarts += st.restart_count
            last_sidecar_restart = _later(last_sidecar_restart, finished)
        term, waiting = st.state.terminated, st.state.waiting
        if term is not None and term.exit_code == 0:
            continue
        if sidecar and st.started:
            if st.ready:
                ready += 1
            continue
        if term is not None:
            if not term.reason:
                reason = f"Init:Signal:{term.signal}" if term.signal else f"Init:ExitCode:{term.exit_code}"
            else:
                reason = "Init:" + term.reason
        elif waiting is not None and waiting.reason and waiting.reason != "PodInitializing":
            reason = "Init:" + waiting.reason
        else:
            reason = f"Init:{i}/{len(spec.init_containers or [])}"
        initializing = True
        break
    initialized = status.condition("Initialized")
    if not initializing or (initialized is not None and initialized.status == "True"):
        restarts = sidecar_restarts
        last_restart = last_sidecar_restart
        has_running = False
        for st in reversed(status.container_statuses or []):
            restarts += st.restart_count
            if st.last_state.terminated is not None:
                last_restart = _later(last_restart, st.last_state.terminated.finished_at)
            term, waiting = st.state.terminated, st.state.waiting
            if waiting is not None and waiting.reason:
                reason = waiting.reason
            elif term is not None and term.reason:
                reason = term.reason
            elif term is not None:
                reason = f"Signal:{term.signal}" if term.signal else f"ExitCode:{term.exit_code}"
            elif st.ready and st.state.running is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            ready_cond = status.condition("Ready")
            reason = "Running" if ready_cond is not None and ready_cond.status == "True" else "NotReady"
    if pod.metadata.deletion_timestamp is not None and status.phase not in ("Succeeded", "Failed"):
        reason = "Terminating"
    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        restarts_text = f"{restarts} ({human_duration((now - last_restart).total_seconds())} ago)"
    created = pod.metadata.creation_timestamp
    age = human_duration((now - created).total_seconds()) if created else "<unknown>"
    return (pod.name, f"{ready}/{total}", reason, restarts_text, age)


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def rollout_status(deployment: Deployment) -> str:
    """What ``kubectl rollout status`` prints for the Deployment as it is now.

    kubectl's DeploymentStatusViewer (polymorphichelpers/rollout_status.go), whose messages users
    know from CI logs; a timed-out rollout is the error it exits with.
    """
    name, status = deployment.name, deployment.status
    if (deployment.metadata.generation or 0) > (status.observed_generation or 0):
        return "Waiting for deployment spec update to be observed..."
    progressing = next((c for c in status.conditions or [] if c.type == "Progressing"), None)
    if progressing is not None and progressing.reason == "ProgressDeadlineExceeded":
        return f'error: deployment "{name}" exceeded its progress deadline'
    replicas, updated = deployment.spec.replicas, status.updated_replicas or 0
    if replicas is not None and updated < replicas:
        return (
            f'Waiting for deployment "{name}" rollout to finish: '
            f"{updated} out of {replicas} new replicas have been updated..."
        )
    if (status.replicas or 0) > updated:
        return (
            f'Waiting for deployment "{name}" rollout to finish: '
            f"{(status.replicas or 0) - updated} old replicas are pending termination..."
        )
    if (status.available_replicas or 0) < updated:
        return (
            f'Waiting for deployment "{name}" rollout to finish: '
            f"{status.available_replicas or 0} of {updated} updated replicas are available..."
        )
    return f'deployment "{name}" successfully rolled out'
