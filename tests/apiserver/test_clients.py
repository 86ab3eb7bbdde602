"""The official Python client against the in-process server: a watch resumed after 410 Gone,
server-side apply, the scale subresource, and an eviction a PodDisruptionBudget refuses."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config, watch

from hitless.api.types.meta import ObjectMeta
from hitless.api.types.node import Node
from hitless.api.types.pod import Container, Pod, PodCondition, PodSpec
from hitless.api.types.policy import PodDisruptionBudget
from hitless.apiserver.kubeconfig import Kubeconfig
from tests.apiserver.conftest import Served


def _api(served: Served, tmp_path: Path) -> client.ApiClient:
    assert served.server.credentials is not None
    path = tmp_path / "kubeconfig"
    Kubeconfig.write(served.url, served.server.credentials, path)
    return config.new_client_from_config(config_file=str(path))


def _pod(name: str, labels: dict[str, str] | None = None, node: str | None = None) -> Pod:
    return Pod(
        metadata=ObjectMeta(name=name, labels=labels),
        spec=PodSpec(
            containers=[Container(name="app", image="nginx")],
            node_name=node,
            termination_grace_period_seconds=30,
        ),
    )


async def test_a_watch_resumed_after_410_gone(served: Served, tmp_path: Path) -> None:
    core = client.CoreV1Api(_api(served, tmp_path))
    served.store.create(_pod("first"))
    listed = await asyncio.to_thread(core.list_namespaced_pod, "default")
    old = listed.metadata.resource_version
    for i in range(60):  # the store keeps 50 changes
        served.store.create(_pod(f"p{i}"))

    def watch_from(rv: str) -> list[tuple[str, str]]:
        w = watch.Watch()
        seen = []
        for event in w.stream(core.list_namespaced_pod, "default", resource_version=rv, timeout_seconds=2):
            seen.append((event["type"], event["object"].metadata.name))
            w.stop()
        return seen

    with pytest.raises(client.ApiException) as gone:
        await asyncio.to_thread(watch_from, old)
    assert gone.value.status == 410
    # The client's recovery: list again, then watch from the list's version.
    relisted = await asyncio.to_thread(core.list_namespaced_pod, "default")
    assert len(relisted.items) == 61
    resumed = asyncio.create_task(asyncio.to_thread(watch_from, relisted.metadata.resource_version))
    await asyncio.sleep(0.3)
    served.store.create(_pod("after"))
    assert await resumed == [("ADDED", "after")]


async def test_server_side_apply_and_scale_with_the_python_client(served: Served, tmp_path: Path) -> None:
    api = _api(served, tmp_path)
    apps = client.AppsV1Api(api)
    body: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "a", "image": "x"}]},
            },
        },
    }
    created = await asyncio.to_thread(
        apps.patch_namespaced_deployment,
        "web",
        "default",
        body,
        field_manager="ci",
        _content_type="application/apply-patch+yaml",
    )
    assert created.spec.replicas == 2 and created.metadata.managed_fields[0].manager == "ci"
    # Defaulted as a file would be.
    assert created.spec.strategy.type == "RollingUpdate" and created.spec.revision_history_limit == 10
    scaled = await asyncio.to_thread(
        apps.patch_namespaced_deployment_scale, "web", "default", {"spec": {"replicas": 4}}
    )
    assert scaled.spec.replicas == 4
    assert (await asyncio.to_thread(apps.read_namespaced_deployment, "web", "default")).spec.replicas == 4


async def test_an_eviction_a_disruption_budget_forbids_is_429(served: Served, tmp_path: Path) -> None:
    core = client.CoreV1Api(_api(served, tmp_path))
    served.store.create(Node(metadata=ObjectMeta(name="node-1")))
    pod = served.store.create(_pod("web-1", {"app": "web"}, node="node-1"))
    running = pod.copy_deep()
    running.status.phase = "Running"
    # A Ready pod: an unready one may be evicted while the budget is met (eviction.go).
    running.status.conditions = [PodCondition(type="Ready", status="True")]
    served.store.update_status(running)
    pdb = PodDisruptionBudget.model_validate(
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}},
        }
    )
    stored = served.store.create(pdb)
    with_status = PodDisruptionBudget.model_validate(
        {
            **stored.to_json(),
            "status": {
                "observedGeneration": 1,
                "disruptionsAllowed": 0,
                "currentHealthy": 1,
                "desiredHealthy": 1,
                "expectedPods": 1,
            },
        }
    )
    served.store.update_status(with_status)
    eviction = client.V1Eviction(metadata=client.V1ObjectMeta(name="web-1", namespace="default"))
    with pytest.raises(client.ApiException) as refused:
        await asyncio.to_thread(core.create_namespaced_pod_eviction, "web-1", "default", eviction)
    assert refused.value.status == 429
    assert "Cannot evict pod as it would violate the pod's disruption budget." in refused.value.body
    assert "The disruption budget web needs 1 healthy pods and has 1 currently" in refused.value.body
    allowed = PodDisruptionBudget.model_validate(
        {**with_status.to_json(), "status": {**with_status.to_json()["status"], "disruptionsAllowed": 1}}
    )
    served.store.update_status(allowed)
    await asyncio.to_thread(core.create_namespaced_pod_eviction, "web-1", "default", eviction)
    gone = served.store.get("Pod", "default", "web-1")
    assert gone is not None and gone.metadata.deletion_timestamp is not None
    budget = served.store.get("PodDisruptionBudget", "default", "web")
    assert budget is not None
    assert budget.to_json()["status"]["disruptionsAllowed"] == 0
    assert "web-1" in budget.to_json()["status"]["disruptedPods"]
