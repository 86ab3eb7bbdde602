"""StatefulSet, DaemonSet, Job and CronJob validation and defaults: pkg/apis/apps/validation and
pkg/apis/batch/validation, pkg/apis/apps/v1 and batch/v1 defaults.go."""

from __future__ import annotations

import textwrap

from .helpers import invalid, load_yaml

TEMPLATE = (
    "  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: a, image: b}]\n"
)


def obj(kind: str, spec: str, api: str = "apps/v1", name: str = "web", template: str = TEMPLATE) -> str:
    body = textwrap.indent(textwrap.dedent(spec).strip("\n"), "  ")
    return f"apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: {name}\nspec:\n{body}\n{template}"


def test_statefulset_defaults_and_messages() -> None:
    ok = load_yaml(obj("StatefulSet", "serviceName: web\nselector: {matchLabels: {app: web}}"))
    assert ok.ok, ok.errors
    spec = ok.objects[0].obj.to_json()["spec"]
    assert (
        spec["podManagementPolicy"],
        spec["updateStrategy"],
        spec["replicas"],
        spec["revisionHistoryLimit"],
    ) == (
        "OrderedReady",
        {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
        1,
        10,
    )
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    prefix = 'StatefulSet.apps "web" is invalid: '
    bad = """
        selector: {matchLabels: {app: other}}
        podManagementPolicy: Sometimes
        updateStrategy: {type: OnDelete, rollingUpdate: {partition: 1}}
    """
    assert invalid(load_yaml(obj("StatefulSet", bad)), prefix) == [
        "spec.podManagementPolicy: Invalid value: \"Sometimes\": must be 'OrderedReady' or 'Parallel'",
        "spec.updateStrategy.rollingUpdate: Invalid value: &apps.RollingUpdateStatefulSetStrategy"
        "{Partition:(*int32)(0xc000000000), MaxUnavailable:(*intstr.IntOrString)(nil)}: "
        "only allowed for updateStrategy 'RollingUpdate'",
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: '
        "`selector` does not match template `labels`",
    ]
    zero = "selector: {matchLabels: {app: web}}\nupdateStrategy: {rollingUpdate: {maxUnavailable: 0}}"
    assert invalid(load_yaml(obj("StatefulSet", zero)), prefix) == [
        "spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid value: "
        'intstr.IntOrString{Type:0, IntVal:0, StrVal:""}: cannot be 0'
    ]


def test_a_statefulset_mount_may_name_a_claim_template() -> None:
    """The pods get a volume per claim template, so a mount of one is found; any other name is not."""
    mounted = (
        "  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n"
        "      - {name: a, image: b, volumeMounts: [{name: data, mountPath: /data}]}\n"
    )
    claims = "volumeClaimTemplates: [{metadata: {name: data}, spec: {accessModes: [ReadWriteOnce]}}]"
    spec = "serviceName: web\nselector: {matchLabels: {app: web}}\n"
    ok = load_yaml(obj("StatefulSet", spec + claims, template=mounted))
    assert ok.ok, [e.format() for e in ok.errors]
    assert invalid(
        load_yaml(obj("StatefulSet", spec, template=mounted)), 'StatefulSet.apps "web" is invalid: '
    ) == ['spec.template.spec.containers[0].volumeMounts[0].name: Not found: "data"']


def test_daemonset_surge_and_unavailable_exclusive() -> None:
    ok = load_yaml(obj("DaemonSet", "selector: {matchLabels: {app: web}}"))
    assert ok.ok
    strategy = ok.objects[0].obj.to_json()["spec"]["updateStrategy"]
    assert strategy == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    prefix = 'DaemonSet.apps "web" is invalid: '
    sel = "selector: {matchLabels: {app: web}}\n"
    both = sel + "updateStrategy: {rollingUpdate: {maxUnavailable: 1, maxSurge: 1}}"
    assert invalid(load_yaml(obj("DaemonSet", both)), prefix) == [
        "spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: "
        'intstr.IntOrString{Type:0, IntVal:1, StrVal:""}: may not be set when maxUnavailable is non-zero'
    ]
    none = sel + "updateStrategy: {rollingUpdate: {maxUnavailable: 0, maxSurge: 0}}"
    assert invalid(load_yaml(obj("DaemonSet", none)), prefix) == [
        "spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0"
    ]
    fine = sel + "updateStrategy: {rollingUpdate: {maxUnavailable: 0, maxSurge: 1}}"
    assert load_yaml(obj("DaemonSet", fine)).ok


JOB_TEMPLATE = (
    "  template:\n    spec:\n      restartPolicy: {restart}\n      containers: [{{name: a, image: b}}]\n"
)


def test_job_defaults_and_restart_policy() -> None:
    ok = load_yaml(
        obj("Job", "backoffLimit: 2", api="batch/v1", template=JOB_TEMPLATE.format(restart="Never"))
    )
    assert ok.ok, ok.errors
    spec = ok.objects[0].obj.to_json()["spec"]
    assert {
        k: spec[k] for k in ("completions", "parallelism", "backoffLimit", "completionMode", "suspend")
    } == {
        "completions": 1,
        "parallelism": 1,
        "backoffLimit": 2,
        "completionMode": "NonIndexed",
        "suspend": False,
    }
    bad = load_yaml(
        obj("Job", "completionMode: Indexed", api="batch/v1", template=JOB_TEMPLATE.format(restart="Always"))
    )
    assert invalid(bad, 'Job.batch "web" is invalid: ') == [
        'spec.template.spec.restartPolicy: Unsupported value: "Always": '
        'supported values: "OnFailure", "Never"'
    ]


def test_cronjob_schedule_and_time_zone() -> None:
    template = "  jobTemplate:\n    spec:\n" + textwrap.indent(
        JOB_TEMPLATE.format(restart="OnFailure"), "    "
    )
    ok = load_yaml(
        obj("CronJob", 'schedule: "*/5 * * * *"\ntimeZone: Europe/Paris', api="batch/v1", template=template)
    )
    assert ok.ok, ok.errors
    spec = ok.objects[0].obj.to_json()["spec"]
    assert (
        spec["concurrencyPolicy"],
        spec["successfulJobsHistoryLimit"],
        spec["failedJobsHistoryLimit"],
    ) == (
        "Allow",
        3,
        1,
    )
    bad = load_yaml(
        obj("CronJob", 'schedule: "* * *"\ntimeZone: Mars/Olympus', api="batch/v1", template=template)
    )
    assert invalid(bad, 'CronJob.batch "web" is invalid: ') == [
        'spec.schedule: Invalid value: "* * *": expected exactly 5 fields, found 3: [* * *]',
        'spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus',
    ]
    tz = load_yaml(obj("CronJob", 'schedule: "TZ=UTC 0 * * * *"', api="batch/v1", template=template))
    assert invalid(tz, 'CronJob.batch "web" is invalid: ') == [
        'spec.schedule: Invalid value: "TZ=UTC 0 * * * *": '
        "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
    ]
