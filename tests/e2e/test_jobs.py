"""A Job with real processes: pods run to completion two at a time, exit codes decide, the Job
completes; an OnFailure container that keeps failing restarts in place until backoffLimit."""

from __future__ import annotations

import asyncio

from hitless.api.types.job import Job

from .conftest import Cluster

JOB = """
apiVersion: batch/v1
kind: Job
metadata: {name: batch}
spec:
  completions: 3
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      containers:
      - name: work
        image: busybox
        command: [sh, -c, "sleep 0.3; echo done"]
"""


async def _until(cluster: Cluster, check: object, timeout: float = 30.0) -> None:
    deadline = cluster.clock.now() + timeout
    while not check():  # type: ignore[operator]
        assert cluster.clock.now() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


def _job(cluster: Cluster, name: str) -> Job:
    job = cluster.engine.store.get("Job", "default", name)
    assert isinstance(job, Job)
    return job


async def test_a_job_runs_its_completions_with_real_pods(cluster: Cluster) -> None:
    cluster.apply(JOB)
    await _until(cluster, lambda: _job(cluster, "batch").status.condition("Complete") is not None)
    job = _job(cluster, "batch")
    assert (job.status.succeeded, job.status.active, job.status.failed) == (3, None, None)
    pods = cluster.engine.store.pods()
    assert len(pods) == 3 and all(p.status.phase == "Succeeded" for p in pods)
    # parallelism 2: the third pod was created only after one of the first two succeeded.
    first_two_done = sorted(
        s.state.terminated.finished_at
        for p in pods
        for s in p.status.container_statuses or []
        if s.state.terminated is not None and s.state.terminated.finished_at is not None
    )[0]
    last_created = max(p.metadata.creation_timestamp for p in pods if p.metadata.creation_timestamp)
    assert last_created >= first_two_done.replace(microsecond=0)


async def test_on_failure_restarts_in_place_up_to_the_backoff_limit(cluster: Cluster) -> None:
    cluster.apply(
        JOB.replace("name: batch", "name: flaky")
        .replace("completions: 3\n  parallelism: 2\n", "backoffLimit: 1\n")
        .replace("restartPolicy: Never", "restartPolicy: OnFailure")
        .replace("sleep 0.3; echo done", "exit 3")
    )
    await _until(cluster, lambda: _job(cluster, "flaky").status.condition("Failed") is not None, timeout=30)
    job = _job(cluster, "flaky")
    assert [c.reason for c in job.status.conditions or []] == ["BackoffLimitExceeded", "BackoffLimitExceeded"]
