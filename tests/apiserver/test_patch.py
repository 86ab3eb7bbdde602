"""Strategic merge patch by the upstream schemas' merge keys, JSON merge patch, JSON patch,
and server-side apply's ownership (removal and conflicts)."""

from __future__ import annotations

from typing import Any

import pytest

from hitless.apiserver import kinds, patch
from hitless.apiserver.ssa import ServerSideApply, fields
from hitless.apiserver.status import ApiError
from hitless.clock import FakeClock

DEPLOYMENT = patch.definition_for("Deployment", "apps", "v1")


def _live() -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "labels": {"app": "web", "tier": "fe"},
                     "finalizers": ["example.com/a", "example.com/b"]},
        "spec": {
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
            "template": {
                "spec": {
                    "containers": [
                        {"name": "app", "image": "nginx", "command": ["nginx", "-g"],
                         "ports": [{"containerPort": 8080}, {"containerPort": 9090}],
                         "lifecycle": {"preStop": {"sleep": {"seconds": 5}}}},
                        {"name": "sidecar", "image": "envoy"},
                    ],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                }
            },
        },
    }  # fmt: skip


def test_the_patch_kubectl_apply_sends_is_applied_by_merge_keys_and_directives() -> None:
    # The patch kubectl 1.32 sent for these manifest changes (reference/kubectl-api.md §8.1).
    smp = {
        "metadata": {
            "$deleteFromPrimitiveList/finalizers": ["example.com/b"],
            "$setElementOrder/finalizers": ["example.com/a"],
            "labels": {"tier": None},
        },
        "spec": {
            "strategy": {"$retainKeys": ["type"], "rollingUpdate": None, "type": "Recreate"},
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "metrics"}, {"name": "app"}],
                    "$setElementOrder/volumes": [{"name": "data"}],
                    "containers": [
                        {"image": "prom", "name": "metrics"},
                        {"$setElementOrder/ports": [{"containerPort": 8080}], "command": ["nginx"],
                         "lifecycle": None, "name": "app",
                         "ports": [{"$patch": "delete", "containerPort": 9090}]},
                        {"$patch": "delete", "name": "sidecar"},
                    ],
                    "volumes": [{"$retainKeys": ["hostPath", "name"], "emptyDir": None,
                                 "hostPath": {"path": "/srv/data"}, "name": "data"}],
                }
            },
        },
    }  # fmt: skip
    out = patch.strategic_merge(_live(), smp, DEPLOYMENT)
    assert out["metadata"]["labels"] == {"app": "web"}
    assert out["metadata"]["finalizers"] == ["example.com/a"]
    assert out["spec"]["strategy"] == {"type": "Recreate"}
    spec = out["spec"]["template"]["spec"]
    assert [c["name"] for c in spec["containers"]] == ["metrics", "app"]
    app = spec["containers"][1]
    assert app == {"name": "app", "image": "nginx", "command": ["nginx"], "ports": [{"containerPort": 8080}]}
    assert spec["volumes"] == [{"name": "data", "hostPath": {"path": "/srv/data"}}]


def test_merge_keys_depend_on_the_path() -> None:
    # env by name inside a container; a Service's ports by port; command is atomic.
    live = _live()
    live["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "2"},
    ]
    smp = {
        "spec": {
            "template": {"spec": {"containers": [{"name": "app", "env": [{"name": "B", "value": "3"}]}]}}
        }
    }
    out = patch.strategic_merge(live, smp, DEPLOYMENT)
    assert out["spec"]["template"]["spec"]["containers"][0]["env"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "3"},
    ]
    service = patch.definition_for("Service", "", "v1")
    svc = {"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}}
    out = patch.strategic_merge(svc, {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}, service)
    assert out["spec"]["ports"] == [{"port": 80, "targetPort": 9090}, {"port": 443}]
    # rollout restart: an annotation added to the template, nothing else touched.
    restart = {
        "spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "now"}}}}
    }
    out = patch.strategic_merge(_live(), restart, DEPLOYMENT)
    assert out["spec"]["template"]["metadata"]["annotations"] == {"kubectl.kubernetes.io/restartedAt": "now"}
    assert out["spec"]["template"]["spec"] == _live()["spec"]["template"]["spec"]


def test_json_merge_patch_and_json_patch() -> None:
    assert patch.merge_patch({"a": {"b": 1, "c": 2}, "l": [1]}, {"a": {"b": None}, "l": [2]}) == {
        "a": {"c": 2},
        "l": [2],
    }
    doc = {"metadata": {"labels": {"a/b": "1"}}, "list": [1, 2]}
    ops = [
        {"op": "add", "path": "/list/1", "value": 9},
        {"op": "remove", "path": "/metadata/labels/a~1b"},
        {"op": "replace", "path": "/list/0", "value": 0},
        {"op": "copy", "from": "/list/0", "path": "/first"},
        {"op": "test", "path": "/first", "value": 0},
    ]
    assert patch.json_patch(doc, ops) == {"metadata": {"labels": {}}, "list": [0, 9, 2], "first": 0}
    with pytest.raises(ApiError) as err:
        patch.json_patch(doc, [{"op": "remove", "path": "/nope"}])
    assert err.value.code == 422


def test_server_side_apply_removes_what_the_manager_dropped_and_refuses_conflicts() -> None:
    resource = kinds.by_kind("Deployment")
    assert resource is not None
    ssa = ServerSideApply(FakeClock())
    applied = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"a": "1", "b": "2"}},
        "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "app", "image": "v1"}]}}},
    }
    live = ssa.create(applied, "alice", resource)
    entry = live["metadata"]["managedFields"][0]
    assert (entry["manager"], entry["operation"], entry["fieldsType"]) == ("alice", "Apply", "FieldsV1")
    assert 'k:{"name":"app"}' in entry["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]
    # alice drops label b: it goes; bob's apply of another field coexists.
    second = {**applied, "metadata": {"name": "web", "labels": {"a": "1"}}}
    live = ssa.apply(live, second, "alice", False, resource)
    assert live["metadata"]["labels"] == {"a": "1"}
    live = ssa.apply(
        live,
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"c": "3"}}},
        "bob",
        False,
        resource,
    )
    assert live["metadata"]["labels"] == {"a": "1", "c": "3"}
    # bob changing alice's replicas conflicts, unless forced, which takes the field over.
    grab = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": 5},
    }
    with pytest.raises(ApiError) as err:
        ssa.apply(live, grab, "bob", False, resource)
    assert err.value.code == 409
    assert (
        err.value.message
        == 'Apply failed with 1 conflict: conflict with "alice" using apps/v1: .spec.replicas'
    )
    live = ssa.apply(live, grab, "bob", True, resource)
    assert live["spec"]["replicas"] == 5
    alice = next(m for m in live["metadata"]["managedFields"] if m["manager"] == "alice")
    assert "f:replicas" not in alice["fieldsV1"]["f:spec"]
    assert fields({"spec": {"replicas": 1}}, patch.definition_for("Deployment", "apps", "v1")) == {
        "f:spec": {"f:replicas": {}}
    }


def test_writes_with_a_field_manager_own_what_they_changed() -> None:
    resource = kinds.by_kind("Deployment")
    assert resource is not None
    ssa = ServerSideApply(FakeClock())
    obj: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": 2, "paused": False},
    }
    ssa.record_update(None, obj, "kubectl-create", resource)
    assert [(m["manager"], m["operation"]) for m in obj["metadata"]["managedFields"]] == [
        ("kubectl-create", "Update")
    ]
    scaled = {**obj, "spec": {"replicas": 4, "paused": False}}
    ssa.record_update(obj, scaled, "kubectl-scale", resource)
    owners = {m["manager"]: m["fieldsV1"] for m in scaled["metadata"]["managedFields"]}
    assert owners == {
        "kubectl-create": {"f:spec": {"f:paused": {}}},
        "kubectl-scale": {"f:spec": {"f:replicas": {}}},
    }
    # An apply that changes a written field conflicts with its writer.
    with pytest.raises(ApiError) as err:
        ssa.apply(scaled, {**obj, "spec": {"replicas": 1}}, "ci", False, resource)
    assert 'conflict with "kubectl-scale"' in err.value.message
    # What the last client-side apply declared moves to server-side apply without a conflict.
    csa = {
        **obj,
        "metadata": {
            "name": "web",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": '{"spec":{"replicas":2}}'},
        },
    }
    ssa.record_update(None, csa, "kubectl-client-side-apply", resource)
    moved = ssa.apply(csa, {**obj, "spec": {"replicas": 3}}, "kubectl", False, resource)
    assert moved["spec"]["replicas"] == 3
