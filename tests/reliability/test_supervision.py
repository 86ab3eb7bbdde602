"""A fault injected into each supervised component stops the run, which exits 3 naming it.

The whole engine (scheduler, controllers, two kubelets, proxies, load balancer) runs over the
scripted runtime on the fake clock; one method of the real component is made to raise, and the
run is driven as ``hitless up`` drives it: wait for a stop or a failure, stop the engine
(hitless/supervised.py), then report (cli/errors.py).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hitless.api import load_text
from hitless.cli.errors import EXIT_INTERNAL, internal_error
from hitless.clock import FakeClock, RealClock
from hitless.controllers.cronjob import CronJobController
from hitless.controllers.daemonset import DaemonSetController
from hitless.controllers.deployment import DeploymentController
from hitless.controllers.disruption import DisruptionController
from hitless.controllers.endpointslice import EndpointSliceController
from hitless.controllers.garbagecollector import GarbageCollector
from hitless.controllers.job import JobController
from hitless.controllers.replicaset import ReplicaSetController
from hitless.controllers.scheduler import Scheduler
from hitless.controllers.statefulset import StatefulSetController
from hitless.controllers.volumebinding import VolumeBinder
from hitless.dns.server import ClusterDNS
from hitless.engine import Engine, EngineOptions
from hitless.kubelet.eviction import EvictionManager
from hitless.kubelet.kubelet import Kubelet
from hitless.kubelet.pod_worker import PodWorker
from hitless.kubelet.prober.worker import ProbeWorker
from hitless.kubelet.syncer import PodSyncer
from hitless.proxy.health import ProxierHealth
from hitless.proxy.loadbalancer import LoadBalancer
from hitless.proxy.node import NodeProxy
from hitless.runtime import cri
from hitless.runtime.fake import FakeProgram, FakeRuntime
from hitless.store.store import Store, WatchEvent
from hitless.supervised import raise_if_failed, stop_engine, supervise
from hitless.tasks import ComponentFailed

MANIFEST = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: app
        image: busybox
        command: [app]
        readinessProbe:
          exec: {command: [ready]}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: {type}
  selector: {app: web}
  ports: [{port: 8080}]
"""


def boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("injected fault")


async def aboom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("injected fault")


async def exec_ok(config: cri.ContainerConfig, argv: list[str]) -> cri.ExecResult:
    return cri.ExecResult(exit_code=0)


async def drive(clock: FakeClock, until: Callable[[], bool], limit: float = 120.0) -> None:
    start = clock.now()
    while not until():
        assert clock.now() - start < limit, "not reached in fake time"
        await clock.advance(0.5)


async def run_with_fault(
    tmp_path: Path, service_type: str, setup: Callable[[Engine], None]
) -> tuple[ComponentFailed, Engine]:
    clock = FakeClock()
    supervisor = supervise()
    runtime = FakeRuntime(clock, lambda config: FakeProgram(on_stop_signal=1.0), exec_handler=exec_ok)
    engine = Engine(runtime, clock, EngineOptions(nodes=2, log_dir=tmp_path, seed=1))
    setup(engine)
    await engine.start()
    result = load_text(MANIFEST.replace("{type}", service_type), "web.yaml")
    assert not result.errors, [e.format() for e in result.errors]
    engine.apply(o.obj for o in result.applied())
    await drive(clock, supervisor.failed.is_set)
    notes: list[str] = []
    stopping = asyncio.ensure_future(stop_engine(engine, supervisor, notes.append))
    await drive(clock, stopping.done)
    stopping.result()
    # Graceful as on Ctrl-C, and nothing left running: every pod deleted (gone, unless the
    # failed component is its kubelet) and every container exited.
    assert all(p.metadata.deletion_timestamp is not None for p in engine.store.pods())
    assert all(c.exited.is_set() for c in runtime._containers.values())
    with pytest.raises(ComponentFailed) as raised:
        raise_if_failed(supervisor)
    return raised.value, engine


POD = r"default/web-\w+-\w{5}"
CASES: list[tuple[str, str, str, object, str]] = [
    # (component pattern, Service type, class, method, replacement)
    ("scheduler", "ClusterIP", "Scheduler", "_on_event", "sync"),
    ("deployment-controller", "ClusterIP", "DeploymentController", "handle", "sync"),
    ("replicaset-controller", "ClusterIP", "ReplicaSetController", "handle", "sync"),
    ("garbage-collector", "ClusterIP", "GarbageCollector", "_on_event", "sync"),
    ("endpointslice-controller", "ClusterIP", "EndpointSliceController", "sync_service", "sync"),
    (r"kubelet node-\d", "ClusterIP", "Kubelet", "_on_event", "sync"),
    (r"kubelet node-\d pod default/web-\w+-\w{5}", "ClusterIP", "PodWorker", "_sync_once", "async"),
    (
        r"kubelet node-\d readiness probe default/web-\w+-\w{5}/app",
        "ClusterIP",
        "ProbeWorker",
        "do_probe",
        "async",
    ),
    (
        r"kubelet node-\d pod default/web-\w+-\w{5} container app exit",
        "ClusterIP",
        "PodSyncer",
        "_wait_exit",
        "async",
    ),
    (r"proxy node-1", "ClusterIP", "NodeProxy", "sync", "sync"),
    ("load-balancer", "LoadBalancer", "LoadBalancer", "_on_event", "sync"),
    (r"load-balancer health check node-\d", "LoadBalancer", "LoadBalancer", "probe", "async"),
    # A node proxy's health server (its /healthz, probed by the load balancer's health checks).
    (r"proxy node-\d", "LoadBalancer", "ProxierHealth", "healthz", "sync"),
    ("statefulset-controller", "ClusterIP", "StatefulSetController", "handle", "sync"),
    ("daemonset-controller", "ClusterIP", "DaemonSetController", "handle", "sync"),
    ("job-controller", "ClusterIP", "JobController", "handle", "sync"),
    # Nothing here makes a CronJob or a Job: its watch fails as it starts.
    ("cronjob-controller", "ClusterIP", "CronJobController", "_watch", "async"),
    ("disruption-controller", "ClusterIP", "DisruptionController", "handle", "sync"),
    ("volume-binder", "ClusterIP", "VolumeBinder", "_on", "sync"),
    ("eviction-manager", "ClusterIP", "EvictionManager", "synchronize", "sync"),
    ("cluster-dns", "ClusterIP", "ClusterDNS", "_received", "sync"),
]
CLASSES: dict[str, type] = {
    "Scheduler": Scheduler,
    "DeploymentController": DeploymentController,
    "ReplicaSetController": ReplicaSetController,
    "GarbageCollector": GarbageCollector,
    "EndpointSliceController": EndpointSliceController,
    "Kubelet": Kubelet,
    "PodWorker": PodWorker,
    "ProbeWorker": ProbeWorker,
    "PodSyncer": PodSyncer,
    "NodeProxy": NodeProxy,
    "LoadBalancer": LoadBalancer,
    "ProxierHealth": ProxierHealth,
    "StatefulSetController": StatefulSetController,
    "DaemonSetController": DaemonSetController,
    "JobController": JobController,
    "CronJobController": CronJobController,
    "DisruptionController": DisruptionController,
    "VolumeBinder": VolumeBinder,
    "EvictionManager": EvictionManager,
    "ClusterDNS": ClusterDNS,
}


@pytest.mark.parametrize(
    ("component", "service_type", "cls", "method", "kind"), CASES, ids=[f"{c[2]}.{c[3]}" for c in CASES]
)
async def test_fault_in_component_exits_3_naming_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    component: str,
    service_type: str,
    cls: str,
    method: str,
    kind: str,
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setattr(CLASSES[cls], method, aboom if kind == "async" else boom)
    failed, _ = await run_with_fault(tmp_path, service_type, lambda engine: None)
    assert re.fullmatch(component, failed.failure.component), failed.failure.component
    assert internal_error("up", failed) == EXIT_INTERNAL
    err = capsys.readouterr().err
    assert f"internal error in {failed.failure.component}: RuntimeError: injected fault" in err
    written = re.search(r"the traceback is in (\S+)", err)
    assert written is not None
    path = Path(written.group(1))
    assert path.parent == tmp_path / "state" / "hitless"
    assert "injected fault" in path.read_text()  # noqa: ASYNC240


async def test_a_store_listener_cannot_raise_into_the_writer(tmp_path: Path) -> None:
    def listener(event: WatchEvent) -> None:
        if event.object.kind == "ReplicaSet":
            raise RuntimeError("injected fault")

    failed, engine = await run_with_fault(
        tmp_path, "ClusterIP", lambda engine: engine.store.add_listener(listener)
    )
    assert re.fullmatch(r"store listener .*listener", failed.failure.component), failed.failure.component
    # The write that the listener saw is done, and once: the controller was not told it failed.
    assert engine.store.count("ReplicaSet") == 1


@pytest.mark.parametrize(
    ("module", "attribute", "component"),
    [
        # `hitless up --api` starts it beside the engine (apiserver/cli.py), under the run's supervisor.
        ("hitless.apiserver.server", "ApiServer._serve", "apiserver"),
        # The control plane's own task (the kubernetes Service, bootstrap RBAC, per namespace
        # kube-root-ca.crt): a task of the run like any other (docs/reliability.md).
        ("hitless.apiserver.controlplane", "ControlPlane.run", "apiserver control plane"),
    ],
)
async def test_a_fault_in_an_api_server_task_is_its_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: str, attribute: str, component: str
) -> None:
    owner, method = attribute.split(".")
    monkeypatch.setattr(getattr(pytest.importorskip(module), owner), method, aboom)
    server_module = pytest.importorskip("hitless.apiserver.server")
    supervisor = supervise()
    server = server_module.ApiServer(Store(RealClock()), RealClock(), tmp_path / "logs")
    await server.start()
    try:
        server.spawn()
        await asyncio.wait_for(supervisor.failed.wait(), 10)
    finally:
        await server.stop()
    with pytest.raises(ComponentFailed) as raised:
        raise_if_failed(supervisor)
    assert raised.value.failure.component == component
