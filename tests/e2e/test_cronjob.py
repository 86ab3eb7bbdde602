"""A CronJob on the real clock: ``@every 2s`` fires once its time has come (not before), its Job
runs a real pod to completion, and the CronJob records the run. The schedule logic itself (cron
syntax, time zones, concurrency, deadlines, history) is tested on the fake clock in
tests/controllers/test_job.py."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from hitless.api.types.job import CronJob, Job
from hitless.controllers.cronjob import SCHEDULED_TIMESTAMP

from .conftest import Cluster

CRONJOB = """
apiVersion: batch/v1
kind: CronJob
metadata: {name: tick}
spec:
  schedule: "@every 2s"
  concurrencyPolicy: Forbid
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          terminationGracePeriodSeconds: 1
          containers:
          - name: work
            image: busybox
            command: [sh, -c, "echo tick"]
"""


def _cronjob(cluster: Cluster) -> CronJob:
    cj = cluster.engine.store.get("CronJob", "default", "tick")
    assert isinstance(cj, CronJob)
    return cj


def _complete(cluster: Cluster) -> list[Job]:
    jobs = [j for j in cluster.engine.store.objects("Job") if isinstance(j, Job)]
    return [j for j in jobs if j.status.condition("Complete") is not None]


async def test_a_cronjob_fires_on_schedule_in_real_time(cluster: Cluster) -> None:
    cluster.apply(CRONJOB)
    created = _cronjob(cluster).metadata.creation_timestamp
    assert created is not None
    deadline = cluster.clock.now() + 10
    while not _complete(cluster) or _cronjob(cluster).status.last_successful_time is None:
        assert cluster.clock.now() < deadline, "no Job completed"
        await asyncio.sleep(0.05)
    job = _complete(cluster)[0]
    scheduled = datetime.fromisoformat((job.metadata.annotations or {})[SCHEDULED_TIMESTAMP])
    # robfig/cron's constant delay: two whole seconds after the CronJob's creation second.
    assert scheduled == created.replace(microsecond=0) + timedelta(seconds=2)
    assert job.metadata.creation_timestamp is not None
    assert job.metadata.creation_timestamp >= scheduled.replace(microsecond=0)
    assert job.name == f"tick-{int(scheduled.timestamp()) // 60}"
    assert job.status.succeeded == 1
    assert cluster.logs(_pod_of(cluster, job), "work") == ["tick"]
    status = _cronjob(cluster).status
    assert status.last_schedule_time == scheduled
    assert status.last_successful_time == job.status.completion_time


def _pod_of(cluster: Cluster, job: Job) -> str:
    pods = [p for p in cluster.engine.store.pods() if (p.metadata.labels or {}).get("job-name") == job.name]
    assert len(pods) == 1, [p.name for p in pods]
    return pods[0].name
