"""Which workload ``hitless verify`` acts on: the StatefulSet or DaemonSet behind the Service, or
the one ``--workload KIND/NAME`` names; and what the status viewers say about them."""

from __future__ import annotations

from hitless.api import load_text
from hitless.api.types.daemonset import DaemonSet
from hitless.api.types.service import Service
from hitless.api.types.statefulset import StatefulSet
from hitless.output.workload_status import daemonset_status, statefulset_status
from hitless.verify.picking import pick_workload

MANIFESTS = """
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web, tier: db}}
    spec: {containers: [{name: c, image: x}]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: edge}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: x}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80}]
"""


def _objects() -> list:  # type: ignore[type-arg]
    result = load_text(MANIFESTS)
    assert result.ok, result.errors
    return [o.obj for o in result.objects]


def test_the_first_workload_behind_the_service_or_the_named_one() -> None:
    objects = _objects()
    service = next(o for o in objects if isinstance(o, Service))
    workload, context = pick_workload(service, objects)
    assert workload is not None and not isinstance(workload, str)
    assert (workload.kind, workload.deployment, context.workload) == (
        "StatefulSet",
        "db",
        ("StatefulSet", "db"),
    )
    workload, context = pick_workload(service, objects, "daemonset/edge")
    assert workload is not None and not isinstance(workload, str)
    assert (workload.kind, workload.deployment, context.strategy) == ("DaemonSet", "edge", "RollingUpdate")
    problem, _ = pick_workload(service, objects, "deployment/nope")
    assert problem == '--workload deployment/nope: no such Deployment, StatefulSet or DaemonSet behind "web"'


def test_rollout_status_words() -> None:
    objects = _objects()
    sts = next(o for o in objects if isinstance(o, StatefulSet)).copy_deep()
    sts.metadata.generation = 2
    assert statefulset_status(sts) == ("Waiting for statefulset spec update to be observed...", False)
    sts.status.observed_generation = 2
    assert statefulset_status(sts) == ("Waiting for 1 pods to be ready...", False)
    sts.status.ready_replicas, sts.status.updated_replicas = 1, 0
    assert statefulset_status(sts) == (
        "Waiting for partitioned roll out to finish: 0 out of 1 new pods have been updated...",
        False,
    )
    sts.status.updated_replicas = 1
    assert statefulset_status(sts) == ("partitioned roll out complete: 1 new pods have been updated...", True)
    ds = next(o for o in objects if isinstance(o, DaemonSet)).copy_deep()
    ds.metadata.generation = 1
    ds.status.observed_generation = 1
    ds.status.desired_number_scheduled = 3
    ds.status.updated_number_scheduled = 1
    assert daemonset_status(ds) == (
        'Waiting for daemon set "edge" rollout to finish: 1 out of 3 new pods have been updated...',
        False,
    )
    ds.status.updated_number_scheduled, ds.status.number_available = 3, 2
    assert (
        daemonset_status(ds)[0]
        == 'Waiting for daemon set "edge" rollout to finish: 2 of 3 updated pods are available...'
    )
    ds.status.number_available = 3
    assert daemonset_status(ds) == ('daemon set "edge" successfully rolled out', True)
