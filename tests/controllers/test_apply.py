"""kubectl apply semantics over the store: three-way merge, refused updates, pruning."""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from hitless.api import load_text
from hitless.api.types.meta import K8sObject
from hitless.cli.reapply import file_keys, reapply_once
from hitless.engine import Engine
from hitless.store.apply import Applier, rollout_restart

from .conftest import Cluster, deployment, set_version


def loaded(*manifests: dict[str, Any]) -> list[K8sObject]:
    result = load_text("\n---\n".join(json.dumps(m) for m in manifests), "t.yaml")
    assert not result.errors, [e.format() for e in result.errors]
    return [o.obj for o in result.objects]


def pod(image: str = "busybox", labels: dict[str, str] | None = None, command: str = "app") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "solo", "labels": labels or {"a": "1"}},
        "spec": {"containers": [{"name": "c", "image": image, "command": [command]}]},
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

    refused = applier.apply(loaded(deployment(), pod(command="other")))
    assert refused.errors and refused.errors[0].startswith(
        'pod/solo: The Pod "solo" is invalid: spec: Forbidden: pod updates may not change fields'
    )
    refused = applier.apply(loaded(deployment(), pod(image="nginx")))
    assert refused.errors == [
        'pod/solo: The Pod "solo": an image change of a running Pod is not supported by hitless; '
        "run it from a Deployment, or delete the Pod and apply again"
    ]
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


async def test_a_refused_object_leaves_every_object_as_it_was(cluster: Cluster) -> None:
    c = cluster
    applier = Applier(c.store)
    other = {**pod(), "metadata": {"name": "other", "labels": {"a": "1"}}}
    applier.apply(loaded(deployment(), pod(), other))
    generation = c.deployment().metadata.generation

    # A template change (would roll out), a forbidden Pod change, and "other" dropped (would be
    # pruned): the refusal of one leaves all three as they were.
    refused = applier.apply(loaded(_changed(), pod(command="other")))
    assert len(refused.errors) == 1 and refused.errors[0].startswith('pod/solo: The Pod "solo" is invalid')
    assert refused.lines == []
    assert c.deployment().metadata.generation == generation
    assert c.store.get("Pod", "default", "other") is not None

    # Once the edit is valid, it all goes through.
    accepted = applier.apply(loaded(_changed(), pod()))
    assert not accepted.errors, accepted.errors
    assert accepted.lines == ["deployment.apps/web configured", "pod/solo unchanged", "pod/other pruned"]


async def test_a_save_prunes_only_what_the_files_held_not_what_came_from_stdin(
    cluster: Cluster, tmp_path: Path
) -> None:
    c = cluster
    path = tmp_path / "web.yaml"
    path.write_text(json.dumps(pod()))
    from_stdin = {**pod(), "metadata": {"name": "piped", "labels": {"a": "1"}}}
    engine = SimpleNamespace(applier=Applier(c.store), store=c.store)
    for obj in engine.applier.remember(loaded(pod(), from_stdin)):
        c.store.create(obj)

    def runnable(obj: K8sObject) -> bool:
        return True

    scope = file_keys(["-", str(path)], runnable)
    assert scope == {("Pod", "default", "solo")}
    path.write_text(json.dumps({**pod(), "metadata": {"name": "renamed", "labels": {"a": "1"}}}))
    out = io.StringIO()
    assert reapply_once(["-", str(path)], cast(Engine, engine), runnable, out, scope)
    assert "hitless: pod/renamed created" in out.getvalue()
    assert "hitless: pod/solo pruned" in out.getvalue()
    assert c.store.get("Pod", "default", "piped") is not None
    assert scope == {("Pod", "default", "renamed")}


async def test_a_save_may_use_a_namespace_that_came_from_stdin(cluster: Cluster, tmp_path: Path) -> None:
    c = cluster
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}
    in_shop = {**pod(), "metadata": {"name": "solo", "namespace": "shop"}}
    engine = SimpleNamespace(applier=Applier(c.store), store=c.store)
    for obj in engine.applier.remember(loaded(namespace)):
        c.store.create(obj)
    path = tmp_path / "web.yaml"
    path.write_text(json.dumps(in_shop))
    out = io.StringIO()

    assert reapply_once(["-", str(path)], cast(Engine, engine), lambda obj: True, out, set())
    assert "hitless: pod/solo created" in out.getvalue()
    assert c.store.get("Pod", "shop", "solo") is not None
