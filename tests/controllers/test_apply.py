"""kubectl apply semantics over the store: three-way merge, refused updates, pruning."""

from __future__ import annotations

import json
from typing import Any

from hitless.api import load_text
from hitless.api.types.meta import K8sObject
from hitless.store.apply import Applier, rollout_restart

from .conftest import Cluster, deployment, set_version


def loaded(*manifests: dict[str, Any]) -> list[K8sObject]:
    result = load_text("\n---\n".join(json.dumps(m) for m in manifests), "t.yaml")
    assert not result.errors, [e.format() for e in result.errors]
    return [o.obj for o in result.objects]


def pod(image: str = "busybox", labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "solo", "labels": labels or {"a": "1"}},
        "spec": {"containers": [{"name": "c", "image": image, "command": ["app"]}]},
    }


async def test_apply_keeps_what_others_set_and_refuses_forbidden_updates(cluster: Cluster) -> None:
    c = cluster
    applier = Applier(c.store)
    first = applier.apply(loaded(deployment(), pod()))
    assert first.lines == ["deployment.apps/web created", "pod/solo created"]
    await c.until(lambda: (c.deployment().status.available_replicas or 0) == 3)
    rollout_restart(c.store, c.clock, "default", "web")
    restarted = (c.deployment().spec.template.metadata.annotations or {})["kubectl.kubernetes.io/restartedAt"]

    again = applier.apply(loaded(deployment(), pod(labels={"b": "2"})))
    assert again.lines == ["deployment.apps/web unchanged", "pod/solo configured"]
    d = c.deployment()
    # Set by others, not in the manifest: kept (restartedAt, the controller's revision).
    assert (d.spec.template.metadata.annotations or {})["kubectl.kubernetes.io/restartedAt"] == restarted
    assert "deployment.kubernetes.io/revision" in (d.metadata.annotations or {})
    solo = c.store.get("Pod", "default", "solo")
    assert solo is not None and solo.metadata.labels == {"b": "2"}  # the removed key is removed

    refused = applier.apply(loaded(deployment(), pod(image="nginx")))
    assert refused.errors and refused.errors[0].startswith(
        'pod/solo: The Pod "solo" is invalid: spec: Forbidden: pod updates may not change fields'
    )
    other = deployment()
    other["spec"]["selector"] = {"matchLabels": {"app": "web", "tier": "x"}}
    other["spec"]["template"]["metadata"]["labels"]["tier"] = "x"
    refused = applier.apply(loaded(other, pod()))
    assert refused.errors[0].startswith(
        'deployment.apps/web: The Deployment "web" is invalid: spec.selector:'
    )
    assert refused.errors[0].endswith("field is immutable")

    generation = c.deployment().metadata.generation or 0
    changed = applier.apply(loaded(_changed(), pod()))
    assert changed.lines[0] == "deployment.apps/web configured"
    assert c.deployment().metadata.generation == generation + 1

    pruned = applier.apply(loaded(pod()))
    assert "deployment.apps/web pruned" in pruned.lines
    await c.clock.advance(0.1)
    assert c.replica_sets() == []


def _changed() -> dict[str, Any]:
    d = deployment()
    d["spec"]["template"]["metadata"]["annotations"]["version"] = "v2"
    return d


async def test_set_version_helper_changes_the_template(cluster: Cluster) -> None:
    cluster.apply(deployment())
    before = cluster.deployment().metadata.generation
    cluster.update(mutate=set_version("v9"))
    assert cluster.deployment().metadata.generation == (before or 0) + 1
