"""The CronJob controller: a Job at each scheduled time, within the concurrency policy.

After pkg/controller/cronjob/cronjob_controllerv2.go (syncCronJob, cleanupFinishedJobs) and
utils.go (mostRecentScheduleTime, nextScheduleTime, getJobFromTemplate2, getJobName). Schedules
are read by croniter in the CronJob's ``timeZone`` (UTC when unset, as a controller manager running
in UTC reads them); the controller wakes 100 ms after each scheduled time, as upstream.
"""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from hitless.api.defaults import apply_defaults
from hitless.api.types.job import CronJob, CronJobStatus, Job
from hitless.api.types.meta import ObjectReference
from hitless.clock import Clock
from hitless.controllers import job_util as ju
from hitless.controllers.controller_utils import controller_ref, new_controller_ref
from hitless.controllers.workqueue import Controller, WorkQueue
from hitless.store.events import NORMAL, WARNING, EventRecorder
from hitless.store.store import AlreadyExists, NotFound, Store, WatchEvent

Key = tuple[str, str]
SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"
NEXT_SCHEDULE_DELTA = 0.1
TOO_MANY_MISSED = 100
_DESCRIPTORS = {"@annually": "@yearly", "@midnight": "@daily"}


def _zone(cj: CronJob) -> ZoneInfo:
    return ZoneInfo(cj.spec.time_zone) if cj.spec.time_zone else ZoneInfo("UTC")


def next_after(cj: CronJob, t: datetime) -> datetime:
    """The first scheduled time strictly after ``t`` (robfig/cron's Schedule.Next)."""
    schedule = cj.spec.schedule.strip()
    if schedule.startswith("@every "):
        # robfig/cron's ConstantDelaySchedule: whole seconds, at least one, from t's second.
        delay = max(1, int(go_duration(schedule.removeprefix("@every "))))
        return t.replace(microsecond=0) + timedelta(seconds=delay)
    schedule = _DESCRIPTORS.get(schedule, schedule)
    local = t.astimezone(_zone(cj)).replace(microsecond=0)
    return croniter(schedule, local).get_next(datetime).astimezone(UTC)


_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def go_duration(text: str) -> float:
    """time.ParseDuration for the units a schedule uses ("90s", "1h30m"), in seconds."""
    total = 0.0
    for value, unit in re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text):
        total += float(value) * _UNITS[unit]
    return total


def most_recent(cj: CronJob, now: datetime, with_deadline: bool) -> tuple[datetime | None, int]:
    """mostRecentScheduleTime: the latest unmet scheduled time up to now, and how many were missed."""
    earliest = cj.status.last_schedule_time or cj.metadata.creation_timestamp or now
    if with_deadline and cj.spec.starting_deadline_seconds is not None:
        earliest = max(earliest, now - timedelta(seconds=cj.spec.starting_deadline_seconds))
    t = next_after(cj, earliest)
    if t > now:
        return None, 0
    missed = 1
    while (following := next_after(cj, t)) <= now:
        t, missed = following, missed + 1
        if missed > 10_000:  # a schedule far in the past: only the latest matters
            break
    return t, missed


class CronJobController(Controller):
    component = "cronjob-controller"

    def __init__(self, store: Store, clock: Clock) -> None:
        super().__init__(store, ["CronJob", "Job"])
        self._clock = clock
        self._recorder = EventRecorder(store, clock, "cronjob-controller")
        self.queue: WorkQueue[Key] = WorkQueue(clock, "cronjob", self.sync)

    def queues(self) -> list[WorkQueue[Key]]:
        return [self.queue]

    def handle(self, event: WatchEvent) -> None:
        obj = event.object
        if isinstance(obj, CronJob):
            if event.type != "DELETED":
                self.queue.add((obj.namespace, obj.name))
        elif isinstance(obj, Job) and (ref := controller_ref(obj)) is not None and ref.kind == "CronJob":
            self.queue.add((obj.namespace, ref.name))

    def sync(self, key: Key) -> None:
        cj = self._store.get_typed(CronJob, "CronJob", *key)
        if cj is None:
            return
        jobs = [
            j
            for j in self._store.objects("Job", cj.namespace)
            if isinstance(j, Job) and (r := controller_ref(j)) is not None and r.uid == cj.metadata.uid
        ]
        status = cj.status.copy_deep()
        delay = self._sync(cj, status, jobs)
        self._cleanup(cj, jobs)
        current = self._store.get_typed(CronJob, "CronJob", *key)
        if current is not None and current.metadata.uid == cj.metadata.uid:
            new = current.copy_deep()
            new.status = status
            self._store.update_status(new)
        if delay is not None:
            self.queue.add_after(key, delay)

    def _sync(self, cj: CronJob, status: CronJobStatus, jobs: list[Job]) -> float | None:
        now = self._clock.wall()
        active = {r.uid for r in status.active or []}
        for job in jobs:
            done = ju.is_finished(job)
            if job.metadata.uid in active and done is not None:
                active.discard(job.metadata.uid)
                self._recorder.event(
                    cj, NORMAL, "SawCompletedJob", f"Saw completed job: {job.name}, condition: {done.type}"
                )
            if done is not None and done.type == "Complete" and job.status.completion_time is not None:
                last = status.last_successful_time
                if last is None or job.status.completion_time > last:
                    status.last_successful_time = job.status.completion_time
        existing = {j.metadata.uid for j in jobs}
        status.active = [r for r in status.active or [] if r.uid in active and r.uid in existing] or None
        if cj.metadata.deletion_timestamp is not None or cj.spec.suspend:
            return None
        scheduled, missed = most_recent(cj, now, with_deadline=True)
        if missed > TOO_MANY_MISSED:
            self._recorder.event(
                cj,
                WARNING,
                "TooManyMissedTimes",
                "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check "
                "clock skew",
            )
        if scheduled is None:
            return self._next_delay(cj, status, now)
        deadline = cj.spec.starting_deadline_seconds
        if deadline is not None and scheduled + timedelta(seconds=deadline) < now:
            when = scheduled.strftime("%a, %d %b %Y %H:%M:%S +0000")
            self._recorder.event(cj, WARNING, "MissSchedule", f"Missed scheduled time to start a job: {when}")
            return self._next_delay(cj, status, now)
        name = f"{cj.name}-{int(scheduled.timestamp()) // 60}"
        if any(r.name == name for r in status.active or []) or status.last_schedule_time == scheduled:
            return self._next_delay(cj, status, now)
        if cj.spec.concurrency_policy == "Forbid" and status.active:
            self._recorder.event(
                cj,
                NORMAL,
                "JobAlreadyActive",
                "Not starting job because prior execution is running and concurrency policy is Forbid",
            )
            return self._next_delay(cj, status, now)
        if cj.spec.concurrency_policy == "Replace":
            for ref in status.active or []:
                self._delete_job(cj, ref.name or "")
            status.active = None
        try:
            job = self._store.create(self._job_for(cj, name, scheduled))
            self._recorder.event(cj, NORMAL, "SuccessfulCreate", f"Created job {job.name}")
        except AlreadyExists:
            found = self._store.get_typed(Job, "Job", cj.namespace, name)
            if found is None:
                return self._next_delay(cj, status, now)
            job = found
        ref = ObjectReference(
            kind="Job",
            namespace=job.namespace,
            name=job.name,
            uid=job.metadata.uid,
            api_version="batch/v1",
            resource_version=job.metadata.resource_version,
        )
        status.active = [*(status.active or []), ref]
        status.last_schedule_time = scheduled
        return self._next_delay(cj, status, now)

    def _next_delay(self, cj: CronJob, status: CronJobStatus, now: datetime) -> float:
        """nextScheduleTimeDuration: until 100 ms after the next scheduled time."""
        recent, _ = most_recent(cj, now, with_deadline=False)
        base = recent or status.last_schedule_time or cj.metadata.creation_timestamp or now
        return max(0.0, (next_after(cj, base) - now).total_seconds()) + NEXT_SCHEDULE_DELTA

    def _job_for(self, cj: CronJob, name: str, scheduled: datetime) -> Job:
        """getJobFromTemplate2: the template's metadata and spec, the scheduled time as an annotation."""
        template = cj.spec.job_template
        annotations = dict(template.metadata.annotations or {})
        annotations[SCHEDULED_TIMESTAMP] = (
            scheduled.astimezone(_zone(cj)).isoformat(timespec="seconds").replace("+00:00", "Z")
        )
        data = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": name,
                "namespace": cj.namespace,
                "labels": dict(template.metadata.labels or {}) or None,
                "annotations": annotations,
                "ownerReferences": [new_controller_ref(cj).to_json()],
            },
            "spec": template.spec.to_json(),
        }
        if data["metadata"]["labels"] is None:  # type: ignore[index]
            del data["metadata"]["labels"]  # type: ignore[attr-defined]
        # The API server defaults the Job it is sent (SetDefaults_Job).
        apply_defaults(data)
        return Job.model_validate(data)

    def _delete_job(self, cj: CronJob, name: str) -> None:
        with contextlib.suppress(NotFound):
            self._store.delete("Job", cj.namespace, name)
            self._recorder.event(cj, NORMAL, "SuccessfulDelete", f"Deleted job {name}")

    def _cleanup(self, cj: CronJob, jobs: list[Job]) -> None:
        """cleanupFinishedJobs: keep the newest successful and failed Jobs up to the history limits."""
        for kind, limit in (
            ("Complete", cj.spec.successful_jobs_history_limit),
            ("Failed", cj.spec.failed_jobs_history_limit),
        ):
            if limit is None:
                continue
            finished = [j for j in jobs if (d := ju.is_finished(j)) is not None and d.type == kind]
            finished.sort(key=lambda j: (j.status.start_time or datetime.min.replace(tzinfo=UTC), j.name))
            for job in finished[: max(0, len(finished) - limit)]:
                self._delete_job(cj, job.name)
