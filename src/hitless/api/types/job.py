"""batch/v1 Job and CronJob, fields in the order of ``k8s.io/api/batch/v1/types.go``. Fields hitless
does not act on (podFailurePolicy, successPolicy, backoffLimitPerIndex, ...) are kept verbatim."""

from __future__ import annotations

from pydantic import Field

from hitless.api.types.base import K8sModel, Time
from hitless.api.types.meta import K8sObject, LabelSelector, ObjectMeta, ObjectReference
from hitless.api.types.pod import ConditionStatus, PodTemplateSpec

NON_INDEXED = "NonIndexed"
INDEXED = "Indexed"


class JobSpec(K8sModel):
    parallelism: int | None = None
    completions: int | None = None
    active_deadline_seconds: int | None = None
    backoff_limit: int | None = None
    selector: LabelSelector | None = None
    manual_selector: bool | None = None
    template: PodTemplateSpec
    ttl_seconds_after_finished: int | None = None
    completion_mode: str | None = None
    suspend: bool | None = None


class JobCondition(K8sModel):
    type: str
    status: ConditionStatus
    last_probe_time: Time | None = None
    last_transition_time: Time | None = None
    reason: str | None = None
    message: str | None = None


class JobStatus(K8sModel):
    conditions: list[JobCondition] | None = None
    start_time: Time | None = None
    completion_time: Time | None = None
    active: int | None = None
    succeeded: int | None = None
    failed: int | None = None
    terminating: int | None = None
    completed_indexes: str | None = None
    ready: int | None = None

    def condition(self, type_: str) -> JobCondition | None:
        return next((c for c in self.conditions or [] if c.type == type_ and c.status == "True"), None)


class Job(K8sObject):
    api_version: str = "batch/v1"
    kind: str = "Job"
    spec: JobSpec
    status: JobStatus = Field(default_factory=JobStatus)


class JobTemplateSpec(K8sModel):
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: JobSpec


class CronJobSpec(K8sModel):
    schedule: str
    time_zone: str | None = None
    starting_deadline_seconds: int | None = None
    concurrency_policy: str | None = None
    suspend: bool | None = None
    job_template: JobTemplateSpec
    successful_jobs_history_limit: int | None = None
    failed_jobs_history_limit: int | None = None


class CronJobStatus(K8sModel):
    active: list[ObjectReference] | None = None
    last_schedule_time: Time | None = None
    last_successful_time: Time | None = None


class CronJob(K8sObject):
    api_version: str = "batch/v1"
    kind: str = "CronJob"
    spec: CronJobSpec
    status: CronJobStatus = Field(default_factory=CronJobStatus)
