"""What the Job controller reads off its pods, after pkg/controller/job/job_controller.go,
indexed_job_utils.go and backoff_utils.go: pods by state, completion indexes, the pod failure
back-off, and the pod made from the template."""

from __future__ import annotations

from datetime import datetime, timedelta

from hitless.api.types.job import INDEXED, Job, JobCondition
from hitless.api.types.meta import ObjectMeta
from hitless.api.types.pod import Pod
from hitless.controllers.controller_utils import new_controller_ref

COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"  # annotation and label
DEFAULT_BACKOFF_S = 10.0  # DefaultJobPodFailureBackOff
MAX_BACKOFF_S = 600.0  # MaxJobPodFailureBackOff


def is_finished(job: Job) -> JobCondition | None:
    """IsJobFinished: the Complete or Failed condition, if either is True."""
    return job.status.condition("Complete") or job.status.condition("Failed")


def completion_index(pod: Pod) -> int | None:
    value = (pod.metadata.annotations or {}).get(COMPLETION_INDEX)
    return int(value) if value is not None and value.isdigit() else None


def finish_time(pod: Pod, now: datetime) -> datetime:
    """When a terminal pod finished: its containers' last finishedAt (now when unknown)."""
    times = [
        s.state.terminated.finished_at
        for s in pod.status.container_statuses or []
        if s.state is not None
        and s.state.terminated is not None
        and s.state.terminated.finished_at is not None
    ]
    return max(times) if times else now


def remaining_backoff(pods: list[Pod], now: datetime) -> float:
    """backoffRecord.getRemainingTime: 10 s after the first failure since the last success,
    doubling with each further failure up to 10 minutes, counted from the last failure."""
    finished = sorted(
        (finish_time(p, now), p.status.phase) for p in pods if p.status.phase in ("Succeeded", "Failed")
    )
    failures = 0
    last_failure: datetime | None = None
    for at, phase in finished:
        if phase == "Succeeded":
            failures, last_failure = 0, None
        else:
            failures, last_failure = failures + 1, at
    if failures == 0 or last_failure is None:
        return 0.0
    backoff = DEFAULT_BACKOFF_S
    for _ in range(1, failures):
        backoff = min(backoff * 2, MAX_BACKOFF_S)
    elapsed = (now - last_failure).total_seconds()
    return max(0.0, backoff - elapsed)


def format_indexes(indexes: set[int]) -> str | None:
    """The completedIndexes format: sorted intervals, "1,3-5,7"."""
    out: list[str] = []
    for i in sorted(indexes):
        if out and out[-1].split("-")[-1] == str(i - 1):
            first = out[-1].split("-")[0]
            out[-1] = f"{first}-{i}"
        else:
            out.append(str(i))
    return ",".join(out) or None


def pod_for(job: Job, index: int | None) -> Pod:
    """The template's pod, named after the Job (and its completion index, Indexed)."""
    template = job.spec.template
    meta = template.metadata
    annotations = dict(meta.annotations or {})
    labels = dict(meta.labels or {})
    prefix = f"{job.name}-"
    spec = template.spec.copy_deep()
    if index is not None:
        annotations[COMPLETION_INDEX] = str(index)
        labels[COMPLETION_INDEX] = str(index)
        prefix = f"{job.name}-{index}-"
        spec.hostname = spec.hostname or f"{job.name}-{index}"
    return Pod(
        metadata=ObjectMeta(
            generate_name=prefix,
            namespace=job.namespace,
            labels=labels or None,
            annotations=annotations or None,
            owner_references=[new_controller_ref(job)],
        ),
        spec=spec,
    )


def is_indexed(job: Job) -> bool:
    return job.spec.completion_mode == INDEXED


def deadline_left(job: Job, start_time: datetime | None, now: datetime) -> float | None:
    """Seconds left before activeDeadlineSeconds (<= 0: passed); None without a deadline."""
    if job.spec.active_deadline_seconds is None or start_time is None:
        return None
    end = start_time + timedelta(seconds=job.spec.active_deadline_seconds)
    return (end - now).total_seconds()
