"""The API server over a bare store, in-process: auth, discovery, reads, writes and watches as
the API server answers them (Status errors, resourceVersion semantics, 410 Gone)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from hitless.api.types.meta import ObjectMeta
from hitless.api.types.pod import Container, Pod, PodSpec
from tests.apiserver.conftest import Served, client_ssl

POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {"containers": [{"name": "app", "image": "nginx", "ports": [{"containerPort": 80}]}]},
}


def _pod(name: str, labels: dict[str, str] | None = None) -> Pod:
    return Pod(
        metadata=ObjectMeta(name=name, labels=labels),
        spec=PodSpec(containers=[Container(name="app", image="nginx")]),
    )


async def test_nothing_answers_without_the_run_credentials(served: Served) -> None:
    anonymous = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ssl(served.server, False)))
    async with anonymous:
        async with anonymous.get(served.url + "/api/v1/pods") as resp:
            assert resp.status == 401
            assert (await resp.json())["reason"] == "Unauthorized"
        async with anonymous.get(served.url + "/version", headers={"Authorization": "Bearer nope"}) as resp:
            assert resp.status == 401
        token = served.server.credentials.token  # type: ignore[union-attr]
        async with anonymous.get(
            served.url + "/version", headers={"Authorization": f"Bearer {token}"}
        ) as resp:
            assert resp.status == 200
            assert (await resp.json())["major"] == "1"


async def test_discovery_legacy_and_aggregated(served: Served) -> None:
    code, groups, _ = await served.request("GET", "/apis")
    assert code == 200 and groups["kind"] == "APIGroupList"
    assert "apps" in [g["name"] for g in groups["groups"]]
    code, core, _ = await served.request("GET", "/api/v1")
    pods = next(r for r in core["resources"] if r["name"] == "pods")
    assert pods["shortNames"] == ["po"] and pods["categories"] == ["all"] and pods["namespaced"]
    assert any(r["name"] == "pods/log" for r in core["resources"])
    code, apps, _ = await served.request("GET", "/apis/apps/v1")
    scale = next(r for r in apps["resources"] if r["name"] == "deployments/scale")
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")
    accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
    code, agg, resp = await served.request("GET", "/api", headers={"Accept": accept})
    assert (
        resp.headers["Content-Type"] == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    )
    assert agg["items"][0]["versions"][0]["resources"][0]["responseKind"]["version"] == "v1"
    accept = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
    code, agg, resp = await served.request("GET", "/apis", headers={"Accept": accept})
    assert agg["apiVersion"] == "apidiscovery.k8s.io/v2beta1"
    assert "v=v2beta1" in resp.headers["Content-Type"]


async def test_openapi_has_the_patch_operations_kubectl_looks_for(served: Served) -> None:
    _, index, _ = await served.request("GET", "/openapi/v3")
    url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
    code, doc, _ = await served.request("GET", url)
    assert code == 200
    op = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert op["x-kubernetes-group-version-kind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}
    assert "fieldValidation" in [p["name"] for p in op["parameters"]]
    # kubectl computes strategic merge patches from these schemas only if PATCH takes that type.
    assert "application/strategic-merge-patch+json" in op["requestBody"]["content"]
    containers = doc["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    text = json.dumps(doc)
    assert "#/$defs/" not in text and '"null"' not in text


async def test_create_defaults_and_validates_as_a_file_would(served: Served) -> None:
    code, pod, _ = await served.request("POST", "/api/v1/namespaces/default/pods", POD)
    assert code == 201
    container = pod["spec"]["containers"][0]
    # The loader's defaulting: what `kubectl describe` shows from a real API server.
    assert container["ports"][0]["protocol"] == "TCP"
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert pod["status"]["phase"] == "Pending" and pod["metadata"]["uid"]
    code, err, _ = await served.request("POST", "/api/v1/namespaces/default/pods", POD)
    assert (code, err["reason"], err["message"]) == (409, "AlreadyExists", 'pods "web" already exists')
    bad = json.loads(json.dumps(POD))
    bad["metadata"]["name"] = "bad"
    del bad["spec"]["containers"][0]["image"]
    code, err, _ = await served.request("POST", "/api/v1/namespaces/default/pods", bad)
    assert (code, err["reason"]) == (422, "Invalid")
    assert err["message"] == 'Pod "bad" is invalid: spec.containers[0].image: Required value'
    assert err["details"]["causes"] == [
        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.containers[0].image"}
    ]
    unknown = json.loads(json.dumps(POD))
    unknown["metadata"]["name"] = "unknown"
    unknown["spec"]["bogus"] = 1
    code, err, _ = await served.request(
        "POST", "/api/v1/namespaces/default/pods?fieldValidation=Strict", unknown
    )
    assert (code, err["reason"]) == (400, "BadRequest")
    assert 'strict decoding error: unknown field "spec.bogus"' in err["message"]
    # Without fieldValidation (Warn, the default): dropped, and said in a Warning header.
    code, pod, resp = await served.request("POST", "/api/v1/namespaces/default/pods", unknown)
    assert code == 201 and "bogus" not in pod["spec"]
    assert resp.headers.getall("Warning") == ['299 - "unknown field \\"spec.bogus\\""']
    code, err, _ = await served.request("GET", "/api/v1/namespaces/default/pods/nope")
    assert (code, err["reason"], err["message"]) == (404, "NotFound", 'pods "nope" not found')
    assert err["details"] == {"name": "nope", "kind": "pods"}
    code, _, _ = await served.request(
        "POST", "/api/v1/namespaces/default/pods?dryRun=All", {**POD, "metadata": {"name": "dry"}}
    )
    assert code == 201 and served.store.get("Pod", "default", "dry") is None


async def test_the_system_namespaces_and_a_new_one(served: Served) -> None:
    code, nss, _ = await served.request("GET", "/api/v1/namespaces")
    names = [n["metadata"]["name"] for n in nss["items"]]
    assert names == ["default", "kube-node-lease", "kube-public", "kube-system"]
    assert all("namespace" not in n["metadata"] for n in nss["items"])  # cluster-scoped
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}
    code, created, _ = await served.request("POST", "/api/v1/namespaces", ns)
    assert code == 201 and created["status"] == {"phase": "Active"}
    assert created["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team-a"}
    assert created["spec"] == {"finalizers": ["kubernetes"]}
    code, err, _ = await served.request("POST", "/api/v1/namespaces/nowhere/pods", POD)
    assert (code, err["message"]) == (404, 'namespaces "nowhere" not found')
    code, _, _ = await served.request("POST", "/api/v1/namespaces/team-a/pods", POD)
    assert code == 201


async def test_list_selectors_and_table(served: Served) -> None:
    for name, app in (("a", "web"), ("b", "web"), ("c", "db")):
        served.store.create(_pod(name, {"app": app}))
    code, pods, _ = await served.request("GET", "/api/v1/namespaces/default/pods?labelSelector=app%3Dweb")
    assert [p["metadata"]["name"] for p in pods["items"]] == ["a", "b"]
    assert pods["kind"] == "PodList" and pods["metadata"]["resourceVersion"] == str(
        served.store.resource_version
    )
    code, pods, _ = await served.request("GET", "/api/v1/pods?labelSelector=app+notin+(web)")
    assert [p["metadata"]["name"] for p in pods["items"]] == ["c"]
    code, pods, _ = await served.request(
        "GET", "/api/v1/pods?fieldSelector=metadata.name%3Db,status.phase%3DPending"
    )
    assert [p["metadata"]["name"] for p in pods["items"]] == ["b"]
    code, err, _ = await served.request("GET", "/api/v1/pods?fieldSelector=spec.bogus%3D1")
    assert (code, err["message"]) == (400, "field label not supported: spec.bogus")
    table_accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    code, table, _ = await served.request(
        "GET", "/api/v1/namespaces/default/pods", headers={"Accept": table_accept}
    )
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]][:5] == [
        "Name",
        "Ready",
        "Status",
        "Restarts",
        "Age",
    ]
    assert table["rows"][0]["cells"][:4] == ["a", "0/1", "Pending", "0"]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


async def test_a_kind_stored_generically_is_served_with_its_columns(served: Served) -> None:
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db"},
        "spec": {
            "replicas": 3,
            "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": {
                "metadata": {"labels": {"app": "db"}},
                "spec": {"containers": [{"name": "pg", "image": "pg"}]},
            },
        },
    }
    code, created, _ = await served.request("POST", "/apis/apps/v1/namespaces/default/statefulsets", sts)
    assert code == 201 and created["kind"] == "StatefulSet" and created["metadata"]["uid"]
    table_accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    code, table, _ = await served.request(
        "GET", "/apis/apps/v1/namespaces/default/statefulsets", headers={"Accept": table_accept}
    )
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Ready", "Age", "Containers", "Images"]
    assert table["rows"][0]["cells"][:2] == ["db", "0/3"]
    code, listed, _ = await served.request("GET", "/apis/apps/v1/statefulsets")
    assert [i["metadata"]["name"] for i in listed["items"]] == ["db"]


async def _watch_lines(served: Served, path: str, count: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    async with served.session.get(served.url + path) as resp:
        assert resp.status == 200
        async for line in resp.content:
            out.append(json.loads(line))
            if len(out) == count:
                break
    return out


async def test_watch_from_a_version_replays_history_then_410_when_too_old(served: Served) -> None:
    served.store.create(_pod("a"))
    rv = served.store.resource_version
    served.store.create(_pod("b"))
    served.store.delete("Pod", "default", "a")
    events = await _watch_lines(served, f"/api/v1/namespaces/default/pods?watch=true&resourceVersion={rv}", 3)
    # As on a real API server, a pod's removal is preceded by a write of deletionGracePeriodSeconds 0.
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "b"),
        ("MODIFIED", "a"),
        ("DELETED", "a"),
    ]
    for i in range(60):  # past the store's history of 50
        served.store.create(_pod(f"p{i}"))
    events = await _watch_lines(served, f"/api/v1/namespaces/default/pods?watch=true&resourceVersion={rv}", 1)
    assert events[0]["type"] == "ERROR"
    assert events[0]["object"]["code"] == 410 and events[0]["object"]["reason"] == "Expired"
    assert events[0]["object"]["message"].startswith(f"too old resource version: {rv} (")


async def test_watch_list_ends_initial_events_with_the_bookmark(served: Served) -> None:
    served.store.create(_pod("a", {"app": "web"}))
    served.store.create(_pod("b", {"app": "db"}))
    path = (
        "/api/v1/namespaces/default/pods?watch=true&sendInitialEvents=true&allowWatchBookmarks=true"
        "&resourceVersionMatch=NotOlderThan&labelSelector=app%3Dweb"
    )
    async with served.session.get(served.url + path) as resp:
        first = json.loads(await resp.content.readline())
        end = json.loads(await resp.content.readline())
        assert (first["type"], first["object"]["metadata"]["name"]) == ("ADDED", "a")
        assert end["type"] == "BOOKMARK"
        assert end["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
        # Leaving the selection is a DELETED for this watcher.
        moved = served.store.get("Pod", "default", "a").copy_deep()  # type: ignore[union-attr]
        moved.metadata.labels = {"app": "other"}
        served.store.update(moved)
        left = json.loads(await asyncio.wait_for(resp.content.readline(), 5))
        assert (left["type"], left["object"]["metadata"]["name"]) == ("DELETED", "a")


async def test_watch_events_as_tables_for_kubectl_get_w(served: Served) -> None:
    served.store.create(_pod("a"))
    served.store.create(_pod("b"))
    table_accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    path = "/api/v1/namespaces/default/pods?watch=true&resourceVersion=0"
    async with served.session.get(served.url + path, headers={"Accept": table_accept}) as resp:
        first = json.loads(await resp.content.readline())
        second = json.loads(await resp.content.readline())
    assert first["type"] == "ADDED" and first["object"]["kind"] == "Table"
    assert first["object"]["columnDefinitions"][0]["name"] == "Name"
    assert first["object"]["rows"][0]["cells"][:3] == ["a", "0/1", "Pending"]
    # kubectl keeps the first event's columns; the rows after come without them.
    assert second["object"]["columnDefinitions"] is None
    assert second["object"]["rows"][0]["cells"][0] == "b"


async def test_an_idle_watch_gets_bookmarks(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    from hitless.apiserver import watch

    monkeypatch.setattr(watch, "BOOKMARK_INTERVAL_S", 0.1)
    served.store.create(_pod("a"))
    rv = served.store.resource_version
    path = f"/api/v1/namespaces/default/pods?watch=true&allowWatchBookmarks=true&resourceVersion={rv}"
    async with served.session.get(served.url + path) as resp:
        event = json.loads(await asyncio.wait_for(resp.content.readline(), 5))
    assert event == {
        "type": "BOOKMARK",
        "object": {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": str(rv)}},
    }


async def test_watch_ends_at_timeout_seconds(served: Served) -> None:
    path = "/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=1&resourceVersion=0"
    async with served.session.get(served.url + path) as resp:
        assert await asyncio.wait_for(resp.content.read(), 5) == b""


async def test_patch_types_update_and_conflict(served: Served) -> None:
    served.store.create(_pod("web", {"app": "web"}))
    merge = {"Content-Type": "application/merge-patch+json"}
    async with served.session.patch(
        served.url + "/api/v1/namespaces/default/pods/web",
        data=json.dumps({"metadata": {"labels": {"x": "1"}}}),
        headers=merge,
    ) as resp:
        assert resp.status == 200
        assert (await resp.json())["metadata"]["labels"] == {"app": "web", "x": "1"}
    ops = [{"op": "remove", "path": "/metadata/labels/x"}]
    async with served.session.patch(
        served.url + "/api/v1/namespaces/default/pods/web",
        data=json.dumps(ops),
        headers={"Content-Type": "application/json-patch+json"},
    ) as resp:
        assert (await resp.json())["metadata"]["labels"] == {"app": "web"}
    code, pod, _ = await served.request("GET", "/api/v1/namespaces/default/pods/web")
    stale = {**pod, "metadata": {**pod["metadata"], "resourceVersion": "1"}}
    code, err, _ = await served.request("PUT", "/api/v1/namespaces/default/pods/web", stale)
    assert (code, err["reason"]) == (409, "Conflict")
    assert err["message"].startswith(
        'Operation cannot be fulfilled on pods "web": the object has been modified'
    )
    changed = json.loads(json.dumps(pod))
    changed["spec"]["containers"][0]["name"] = "renamed"
    code, err, _ = await served.request("PUT", "/api/v1/namespaces/default/pods/web", changed)
    assert (code, err["reason"]) == (422, "Invalid")
    assert "pod updates may not change fields" in err["message"]
    async with served.session.patch(
        served.url + "/api/v1/namespaces/default/pods/web", data="{}", headers={"Content-Type": "text/plain"}
    ) as resp:
        assert resp.status == 415


async def test_delete_with_preconditions_and_orphan(served: Served) -> None:
    served.store.create(_pod("web"))
    opts = {"preconditions": {"uid": "not-it"}}
    code, err, _ = await served.request("DELETE", "/api/v1/namespaces/default/pods/web", opts)
    assert (code, err["reason"]) == (409, "Conflict") and "Precondition failed: UID in precondition" in err[
        "message"
    ]
    code, gone, _ = await served.request(
        "DELETE", "/api/v1/namespaces/default/pods/web", {"gracePeriodSeconds": 0}
    )
    # Not bound to a node: removed at once, as the API server does.
    assert code == 200 and gone["status"] == "Success" and gone["details"]["name"] == "web"
    assert served.store.get("Pod", "default", "web") is None
    code, err, _ = await served.request("GET", "/api/v1/nodes")
    assert code == 200 and err["kind"] == "NodeList"


async def test_self_subject_access_review_is_allowed(served: Served) -> None:
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": "create", "resource": "pods", "namespace": "default"}},
    }
    code, answer, _ = await served.request(
        "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", review
    )
    assert code == 201 and answer["status"]["allowed"] is True
    code, err, _ = await served.request(
        "POST",
        "/api/v1/namespaces/default/pods",
        POD,
        headers={"Content-Type": "application/vnd.kubernetes.protobuf"},
    )
    # JSON sent as protobuf: refused in the protobuf decoder's words.
    assert (code, err["reason"]) == (400, "BadRequest") and "expected prefix" in err["message"]


async def test_method_not_allowed_and_unknown_paths(served: Served) -> None:
    code, err, _ = await served.request("GET", "/apis/nope.io/v1/things")
    assert (code, err["reason"]) == (404, "NotFound")
    code, err, _ = await served.request("POST", "/api/v1/namespaces/default/pods/x/log", {})
    assert (code, err["reason"]) == (405, "MethodNotAllowed")


@pytest.mark.parametrize("listen", ["0", "127.0.0.1:0", "localhost:6443"])
def test_listen_is_loopback_only(listen: str) -> None:
    from hitless.apiserver.server import parse_listen

    assert parse_listen(listen)[0] in ("127.0.0.1", "localhost")
    with pytest.raises(ValueError, match="not a loopback address"):
        parse_listen("0.0.0.0:6443")
