"""The Job controller: runs pods to completion, retries failures with back-off, and finishes.

After pkg/controller/job/job_controller.go (syncJob, manageJob, the failure and success criteria,
the interim FailureTarget / SuccessCriteriaMet conditions of 1.31+ and the terminal Failed /
Complete ones once no pod is left running), indexed_job_utils.go (completion indexes) and
backoff_utils.go (the pod failure back-off), plus the TTL-after-finished controller
(pkg/controller/ttlafterfinished), which deletes a finished Job ``ttlSecondsAfterFinished`` later
(its pods go with it through the garbage collector).

Deliberate simplifications: succeeded and failed pods are counted from the pods that exist (no
tracking finalizers: nothing here deletes a finished pod behind the controller's back), and
podFailurePolicy, successPolicy, backoffLimitPerIndex and suspend are kept but not acted on.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from hitless.api.types.job import Job, JobCondition, JobStatus
from hitless.api.types.pod import Pod
from hitless.clock import Clock
from hitless.controllers import job_util as ju
from hitless.controllers.controller_utils import controller_ref, is_pod_ready
from hitless.controllers.workqueue import Controller, WorkQueue
from hitless.store.events import NORMAL, WARNING, EventRecorder
from hitless.store.store import NotFound, Store, WatchEvent

Key = tuple[str, str]
BACKOFF_LIMIT_EXCEEDED = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
DEADLINE_EXCEEDED = ("DeadlineExceeded", "Job was active longer than specified deadline")
COMPLETIONS_REACHED = ("CompletionsReached", "Reached expected number of succeeded pods")


class JobController(Controller):
    component = "job-controller"

    def __init__(self, store: Store, clock: Clock) -> None:
        super().__init__(store, ["Job", "Pod"])
        self._clock = clock
        self._recorder = EventRecorder(store, clock, "job-controller")
        self.queue: WorkQueue[Key] = WorkQueue(clock, "job", self.sync)

    def queues(self) -> list[WorkQueue[Key]]:
        return [self.queue]

    def handle(self, event: WatchEvent) -> None:
        obj = event.object
        if isinstance(obj, Job):
            if event.type != "DELETED":
                self.queue.add((obj.namespace, obj.name))
        elif isinstance(obj, Pod) and (ref := controller_ref(obj)) is not None and ref.kind == "Job":
            self.queue.add((obj.namespace, ref.name))

    def _pods(self, job: Job) -> list[Pod]:
        uid = job.metadata.uid
        return self._store.pods(
            lambda p: p.namespace == job.namespace and (r := controller_ref(p)) is not None and r.uid == uid
        )

    # --- sync ----------------------------------------------------------------------------------

    def sync(self, key: Key) -> None:
        job = self._store.get_typed(Job, "Job", *key)
        if job is None or job.metadata.deletion_timestamp is not None:
            return
        if (done := ju.is_finished(job)) is not None:
            self._ttl(job, done)
            return
        now = self._clock.wall()
        pods = self._pods(job)
        active = [
            p
            for p in pods
            if p.status.phase not in ("Succeeded", "Failed") and not p.metadata.deletion_timestamp
        ]
        terminating = [
            p for p in pods if p.status.phase not in ("Succeeded", "Failed") and p.metadata.deletion_timestamp
        ]
        succeeded = [p for p in pods if p.status.phase == "Succeeded"]
        failed = [p for p in pods if p.status.phase == "Failed"]
        status = job.status.copy_deep()
        status.start_time = status.start_time or now
        completed = {i for p in succeeded if (i := ju.completion_index(p)) is not None}
        if ju.is_indexed(job):
            completed = {i for i in completed if i < (job.spec.completions or 0)}

        failure = status.condition("FailureTarget")
        success = status.condition("SuccessCriteriaMet")
        reason: tuple[str, str] | None = None
        if failure is None and success is None:
            reason = self._failure_reason(job, status, failed, active)
            if reason is not None:
                status.conditions = _with(status.conditions, "FailureTarget", reason, now)
            elif self._complete(job, succeeded, active, completed):
                status.conditions = _with(status.conditions, "SuccessCriteriaMet", COMPLETIONS_REACHED, now)
        if (
            status.condition("FailureTarget") is not None
            or status.condition("SuccessCriteriaMet") is not None
        ):
            for pod in active:
                self._delete(job, pod)
            active, terminating = [], terminating + active
        else:
            active = self._manage(job, active, pods, succeeded, completed)

        status.active = len(active) or None
        status.ready = sum(1 for p in active if is_pod_ready(p))
        status.succeeded = len(succeeded) or None
        status.failed = len(failed) or None
        status.terminating = len(terminating)
        status.completed_indexes = ju.format_indexes(completed) if ju.is_indexed(job) else None
        if not terminating and not active:
            # The terminal condition waits for every pod to have stopped (1.31+).
            if (target := status.condition("FailureTarget")) is not None:
                why = (target.reason or "", target.message or "")
                status.conditions = _with(status.conditions, "Failed", why, now)
                self._recorder.event(job, WARNING, why[0], why[1])
            elif status.condition("SuccessCriteriaMet") is not None:
                status.conditions = _with(status.conditions, "Complete", COMPLETIONS_REACHED, now)
                status.completion_time = now
                self._recorder.event(job, NORMAL, "Completed", "Job completed")
        self._write_status(job, status)
        left = ju.deadline_left(job, status.start_time, now)
        if left is not None and left > 0 and status.condition("FailureTarget") is None:
            self.queue.add_after(key, left)

    def _failure_reason(
        self, job: Job, status: JobStatus, failed: list[Pod], active: list[Pod]
    ) -> tuple[str, str] | None:
        limit = job.spec.backoff_limit if job.spec.backoff_limit is not None else 6
        if job.spec.template.spec.restart_policy == "OnFailure":
            # pastBackoffLimitOnFailure: with in-place restarts, the running pods' restarts count.
            containers = [
                c
                for p in active
                for c in [*(p.status.init_container_statuses or []), *(p.status.container_statuses or [])]
            ]
            restarts = sum(c.restart_count for c in containers)
            if restarts >= limit if limit > 0 else restarts > 0:
                return BACKOFF_LIMIT_EXCEEDED
        if len(failed) > limit:
            return BACKOFF_LIMIT_EXCEEDED
        left = ju.deadline_left(job, status.start_time, self._clock.wall())
        if left is not None and left <= 0:
            return DEADLINE_EXCEEDED
        return None

    @staticmethod
    def _complete(job: Job, succeeded: list[Pod], active: list[Pod], completed: set[int]) -> bool:
        if ju.is_indexed(job):
            return len(completed) >= (job.spec.completions or 0)
        if job.spec.completions is None:
            # A work queue: done once a pod succeeded and none is left running.
            return bool(succeeded) and not active
        return len(succeeded) >= job.spec.completions

    def _manage(
        self, job: Job, active: list[Pod], pods: list[Pod], succeeded: list[Pod], completed: set[int]
    ) -> list[Pod]:
        """manageJob: as many active pods as parallelism allows and completions still need, not
        before the failure back-off has passed."""
        parallelism = job.spec.parallelism if job.spec.parallelism is not None else 1
        if ju.is_indexed(job):
            running = {i for p in active if (i := ju.completion_index(p)) is not None}
            wanted = [i for i in range(job.spec.completions or 0) if i not in completed and i not in running]
            missing: list[int | None] = list(wanted[: max(0, parallelism - len(active))])
        else:
            if job.spec.completions is None:
                want = 0 if succeeded else parallelism
            else:
                want = min(parallelism, job.spec.completions - len(succeeded))
            diff = want - len(active)
            if diff < 0:
                # Too many running (parallelism lowered): the newest go first.
                for pod in sorted(active, key=lambda p: p.metadata.creation_timestamp or self._clock.wall())[
                    diff:
                ]:
                    self._delete(job, pod)
                return active[:want]
            missing = [None] * diff
        if not missing:
            return active
        backoff = ju.remaining_backoff(pods, self._clock.wall())
        if backoff > 0:
            self.queue.add_after((job.namespace, job.name), backoff)
            return active
        for index in missing:
            pod = self._store.create(ju.pod_for(job, index))
            self._recorder.event(job, NORMAL, "SuccessfulCreate", f"Created pod: {pod.name}")
            active.append(pod)
        return active

    def _delete(self, job: Job, pod: Pod) -> None:
        with contextlib.suppress(NotFound):
            self._store.delete("Pod", pod.namespace, pod.name)
            self._recorder.event(job, NORMAL, "SuccessfulDelete", f"Deleted pod: {pod.name}")

    def _write_status(self, job: Job, status: JobStatus) -> None:
        current = self._store.get_typed(Job, "Job", job.namespace, job.name)
        if current is None or current.metadata.uid != job.metadata.uid:
            return
        new = current.copy_deep()
        new.status = status
        self._store.update_status(new)

    def _ttl(self, job: Job, done: JobCondition) -> None:
        """ttlafterfinished: delete the Job (and so its pods) ttlSecondsAfterFinished after it finished."""
        ttl = job.spec.ttl_seconds_after_finished
        if ttl is None:
            return
        finished = done.last_transition_time or self._clock.wall()
        left = (finished + timedelta(seconds=ttl) - self._clock.wall()).total_seconds()
        if left > 0:
            self.queue.add_after((job.namespace, job.name), left)
            return
        with contextlib.suppress(NotFound):
            self._store.delete("Job", job.namespace, job.name)


def _with(
    conditions: list[JobCondition] | None, type_: str, reason: tuple[str, str], now: object
) -> list[JobCondition]:
    kept = [c for c in conditions or [] if c.type != type_]
    return [
        *kept,
        JobCondition(
            type=type_,
            status="True",
            reason=reason[0],
            message=reason[1],
            last_probe_time=now,
            last_transition_time=now,
        ),
    ]
