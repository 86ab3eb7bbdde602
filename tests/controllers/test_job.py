"""Jobs and CronJobs on a fake clock: completions and parallelism, the failure back-off up to
backoffLimit, activeDeadlineSeconds, Indexed completion, TTL; CronJob schedules, concurrency
policies, missed starts and history limits."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hitless.api.types.job import CronJob, Job
from hitless.controllers.cronjob import most_recent, next_after

from .workloads import Workloads, workloads_cluster

_keys = itertools.count()


def job(
    name: str = "task", args: list[str] | None = None, restart: str = "Never", **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {**spec, "template": _template(args, restart)},
    }


def _template(args: list[str] | None, restart: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "task"}},
        "spec": {
            "restartPolicy": restart,
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {"name": "c", "image": "busybox", "command": ["run"], "args": args or ["--exit-after=2"]}
            ],
        },
    }


def get_job(w: Workloads, name: str = "task") -> Job:
    j = w.get("Job", name)
    assert isinstance(j, Job)
    return j


def conditions(j: Job) -> list[tuple[str, str]]:
    return [(c.type, c.reason or "") for c in j.status.conditions or []]


async def test_completions_with_parallelism(tmp_path: Path) -> None:
    async with workloads_cluster(tmp_path) as w:
        w.apply(job(completions=5, parallelism=2))
        await w.run(0.5)
        assert len(w.pods()) == 2
        labels = w.pods()[0].metadata.labels or {}
        assert (
            labels["batch.kubernetes.io/job-name"] == "task" and labels["batch.kubernetes.io/controller-uid"]
        )
        await w.until(lambda: get_job(w).status.condition("Complete") is not None, timeout=60)
        j = get_job(w)
        assert j.status.succeeded == 5 and not j.status.active
        assert conditions(j) == [
            ("SuccessCriteriaMet", "CompletionsReached"),
            ("Complete", "CompletionsReached"),
        ]
        assert j.status.completion_time is not None and j.status.start_time is not None
        # Never more than 2 at once, so at least 3 rounds of 2 s.
        assert (j.status.completion_time - j.status.start_time).total_seconds() >= 6
        assert len(w.events("SuccessfulCreate")) == 5 and w.events("Completed") == ["Job completed"]


async def test_failures_back_off_then_the_limit_fails_the_job(tmp_path: Path) -> None:
    async with workloads_cluster(tmp_path) as w:
        w.apply(job(args=["--exit-after=1", "--exit-code=1"], backoffLimit=2))
        await w.until(lambda: get_job(w).status.condition("Failed") is not None, timeout=200)
        j = get_job(w)
        assert j.status.failed == 3 and conditions(j) == [
            ("FailureTarget", "BackoffLimitExceeded"),
            ("Failed", "BackoffLimitExceeded"),
        ]
        created = sorted(
            p.metadata.creation_timestamp for p in w.store.pods() if p.metadata.creation_timestamp
        )
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(created)]
        # Each retry waits for the back-off after the previous failure: 10 s, then 20 s.
        assert gaps[0] >= 10 and gaps[1] >= 20, gaps
        assert "Job has reached the specified backoff limit" in w.events("BackoffLimitExceeded")


async def test_a_retry_that_succeeds_completes(tmp_path: Path) -> None:
    key = f"retry-{next(_keys)}"
    async with workloads_cluster(tmp_path) as w:
        w.apply(job(args=["--exit-after=1", "--fail-attempts=1", f"--fail-key={key}"]))
        await w.until(lambda: get_job(w).status.condition("Complete") is not None, timeout=60)
        assert (get_job(w).status.failed, get_job(w).status.succeeded) == (1, 1)


async def test_active_deadline_stops_the_job(tmp_path: Path) -> None:
    async with workloads_cluster(tmp_path) as w:
        w.apply(job(args=["--exit-after=100"], activeDeadlineSeconds=5))
        await w.until(lambda: get_job(w).status.condition("Failed") is not None, timeout=30)
        assert conditions(get_job(w))[-1] == ("Failed", "DeadlineExceeded")
        assert all(
            p.metadata.deletion_timestamp is not None or p.status.phase == "Failed" for p in w.store.pods()
        ) or (not w.store.pods())


async def test_indexed_completion_and_ttl(tmp_path: Path) -> None:
    async with workloads_cluster(tmp_path) as w:
        w.apply(job(completions=3, parallelism=3, completionMode="Indexed", ttlSecondsAfterFinished=5))
        await w.run(0.5)
        indexes = sorted(
            (p.metadata.annotations or {})["batch.kubernetes.io/job-completion-index"] for p in w.pods()
        )
        assert indexes == ["0", "1", "2"]
        assert sorted(p.spec.hostname or "" for p in w.pods()) == ["task-0", "task-1", "task-2"]
        await w.until(lambda: get_job(w).status.condition("Complete") is not None, timeout=30)
        assert get_job(w).status.completed_indexes == "0-2"
        await w.until(lambda: w.store.get("Job", "default", "task") is None, timeout=30)


def cronjob(schedule: str = "*/1 * * * *", args: list[str] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "tick", "namespace": "default"},
        "spec": {
            "schedule": schedule,
            **spec,
            "jobTemplate": {"spec": {"template": _template(args, "Never")}},
        },
    }


def test_schedules_in_a_time_zone() -> None:
    import json

    from hitless.api import load_text

    obj = load_text(json.dumps(cronjob("30 9 * * *", timeZone="Asia/Tokyo"))).objects[0].obj
    assert isinstance(obj, CronJob)
    t = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)  # 09:00 in Tokyo
    assert next_after(obj, t) == datetime(2026, 1, 1, 0, 30, tzinfo=UTC)
    obj.metadata.creation_timestamp = t
    assert most_recent(obj, datetime(2026, 1, 3, 1, 0, tzinfo=UTC), with_deadline=False) == (
        datetime(2026, 1, 3, 0, 30, tzinfo=UTC),
        3,
    )


async def test_cronjob_fires_each_minute_and_keeps_history(tmp_path: Path) -> None:
    async with workloads_cluster(tmp_path) as w:
        w.apply(cronjob(successfulJobsHistoryLimit=2))
        await w.run(4 * 60 + 30, step=1.0)
        names = sorted(j.name for j in w.store.objects("Job"))
        assert len(names) == 2, names  # 4 fired, 2 kept
        created = w.events("SuccessfulCreate")
        assert len([m for m in created if m.startswith("Created job tick-")]) == 4
        for j in w.store.objects("Job"):
            assert isinstance(j, Job)
            minute = int(j.name.removeprefix("tick-"))
            stamp = (j.metadata.annotations or {})["batch.kubernetes.io/cronjob-scheduled-timestamp"]
            assert datetime.fromisoformat(stamp).timestamp() == minute * 60
        cj = w.get("CronJob", "tick")
        assert cj.status.last_schedule_time is not None and cj.status.last_successful_time is not None


async def test_forbid_skips_while_a_job_runs_and_replace_replaces_it(tmp_path: Path) -> None:
    async with workloads_cluster(tmp_path) as w:
        w.apply(cronjob(args=["--exit-after=90"], concurrencyPolicy="Forbid"))
        await w.run(3 * 60 + 10, step=1.0)
        assert len(w.store.objects("Job")) == 2  # fired at minutes 1 and (after 90 s) 3
        assert any("concurrency policy is Forbid" in m for m in w.events("JobAlreadyActive"))

    async with workloads_cluster(tmp_path / "replace") as w:
        w.apply(cronjob(args=["--exit-after=90"], concurrencyPolicy="Replace"))
        await w.run(2 * 60 + 10, step=1.0)
        assert len(w.events("SuccessfulDelete")) >= 1
        active = w.get("CronJob", "tick").status.active or []
        assert len(active) == 1
