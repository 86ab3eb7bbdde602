"""Names past 63 characters: generated names are cut as the API server cuts them, hostnames as the
kubelet does."""

from __future__ import annotations

from pathlib import Path

from hitless.api import load_text
from hitless.api.types.apps import Deployment, ReplicaSet
from hitless.api.types.meta import ObjectMeta
from hitless.api.types.pod import Container, Pod, PodSpec
from hitless.clock import FakeClock
from hitless.engine import Engine, EngineOptions
from hitless.kubelet.env import pod_hostname
from hitless.runtime.fake import FakeProgram, FakeRuntime
from hitless.store.store import Store
from hitless.supervised import supervise

LONG = "a-very-long-deployment-name-that-a-team-chose-for-its-web-frontend"  # 66 characters


def test_a_long_generate_name_is_cut_so_the_name_stays_within_63() -> None:
    store = Store(FakeClock())
    pod = store.create(
        Pod(metadata=ObjectMeta(generate_name=LONG + "-"), spec=PodSpec(containers=[Container(name="c")]))
    )
    assert len(pod.name) == 63
    assert pod.name[:58] == (LONG + "-")[:58]
    assert pod.metadata.generate_name == LONG + "-"  # kept as asked, as the API server keeps it


async def test_a_deployment_with_a_long_name_runs_pods_named_within_63(tmp_path: Path) -> None:
    clock = FakeClock()
    supervise()
    engine = Engine(
        FakeRuntime(clock, lambda c: FakeProgram()), clock, EngineOptions(log_dir=tmp_path, seed=1)
    )
    await engine.start()
    text = f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {LONG}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: app, image: busybox, command: [app]}}]
"""
    obj = load_text(text, "web.yaml").objects[0].obj
    assert isinstance(obj, Deployment)
    engine.apply([obj])
    await clock.advance(3)
    [rs] = [r for r in engine.store.objects("ReplicaSet") if isinstance(r, ReplicaSet)]
    # The Deployment controller does not cut the ReplicaSet's name (sync.go: d.Name + "-" + hash).
    labels = rs.metadata.labels or {}
    assert rs.name == f"{LONG}-{labels['pod-template-hash']}"
    pods = engine.pods()
    assert len(pods) == 2 and all(p.status.phase == "Running" for p in pods)
    assert all(len(p.name) == 63 and p.name.startswith(rs.name[:58]) for p in pods)
    await engine.delete_all_pods()
    await engine.stop()


def test_a_long_pod_name_gives_a_hostname_cut_to_63_without_a_trailing_dash() -> None:
    name = "x" * 62 + "-y" + "z" * 10
    pod = Pod(metadata=ObjectMeta(name=name), spec=PodSpec(containers=[Container(name="c")]))
    assert pod_hostname(pod) == "x" * 62
    pod.spec.hostname = "web"
    assert pod_hostname(pod) == "web"
