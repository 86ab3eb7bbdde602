"""Edges where a request could reach past what RBAC grants, each closed as kube-apiserver closes
it: a patch moving an object to another namespace, ``escalate`` limited by name on a create, an
aggregated ClusterRole rewritten, a token bound to another service account's pod, a malformed
service-account name impersonated."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict

from hitless.apiserver.impersonation import impersonated, split_service_account
from hitless.apiserver.rbac import Authorizer
from hitless.apiserver.reviews import answer
from hitless.apiserver.serviceaccount import ServiceAccountTokens, TokenError, service_account_user
from hitless.apiserver.status import ApiError
from hitless.clock import FakeClock
from hitless.store.store import Store
from tests.apiserver.conftest import Served, client_ssl
from tests.apiserver.test_serviceaccounts import RBAC, RBAC_GROUP, as_token, create, setup_team

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
READER = service_account_user("team", "reader")


def grant(store: Store, name: str, rules: list[dict[str, Any]], cluster: bool = False) -> None:
    """A Role (or ClusterRole and ClusterRoleBinding) of ``rules`` for team's reader."""
    kind, meta = ("ClusterRole", {"name": name}) if cluster else ("Role", {"name": name, "namespace": "team"})
    create(store, {"apiVersion": RBAC, "kind": kind, "metadata": meta, "rules": rules})
    create(
        store,
        {
            "apiVersion": RBAC,
            "kind": f"{kind}Binding",
            "metadata": meta,
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": "team"}],
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": kind, "name": name},
        },
    )


async def patch_as(served: Served, token: str, path: str, body: Any, ctype: str) -> tuple[int, Any]:
    connector = aiohttp.TCPConnector(ssl=client_ssl(served.server, with_cert=False))
    async with aiohttp.ClientSession(connector=connector) as session:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": ctype}
        async with session.patch(served.url + path, data=json.dumps(body), headers=headers) as resp:
            return resp.status, await resp.json()


async def test_a_patch_does_not_move_an_object_to_another_namespace(served: Served) -> None:
    """rest.BeforeUpdate (EnsureObjectNamespaceMatchesRequestNamespace): authorized in team, a
    patch setting metadata.namespace must not write default's ConfigMap of that name."""
    store = served.store
    pod = setup_team(store)
    for ns in ("team", "default"):
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": ns}}
        create(store, {**cm, "data": {"owner": ns}})
    grant(store, "cm", [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "patch"]}])
    token = served.server.tokens.issue(pod, None, 3607)
    path = "/api/v1/namespaces/team/configmaps/x"
    merge = {"metadata": {"namespace": "default"}, "data": {"owner": "intruder"}}
    json_patch = [
        {"op": "replace", "path": "/metadata/namespace", "value": "default"},
        {"op": "replace", "path": "/data/owner", "value": "intruder"},
    ]
    for body, ctype in ((merge, MERGE), (json_patch, JSON_PATCH)):
        code, err = await patch_as(served, token, path, body, ctype)
        assert (code, err["message"]) == (
            400,
            "the namespace of the provided object does not match the namespace sent on the request",
        )
    for ns in ("team", "default"):
        live = store.get("ConfigMap", ns, "x")
        assert live is not None and live.to_json()["data"] == {"owner": ns}
    # A patch that drops the namespace leaves the object where the request names it.
    drop = [{"op": "remove", "path": "/metadata/namespace"}, {"op": "add", "path": "/data/b", "value": "1"}]
    code, out = await patch_as(served, token, path, drop, JSON_PATCH)
    assert code == 200 and out["metadata"]["namespace"] == "team" and out["data"]["b"] == "1"


async def test_escalate_limited_by_name_covers_updates_not_creates(served: Served) -> None:
    """RoleEscalationAuthorized asks about the request's name, which a create has not: a user who
    may escalate only the role "power" may not create it with more than they hold."""
    store = served.store
    pod = setup_team(store)
    token = served.server.tokens.issue(pod, None, 3607)
    grant(
        store,
        "role-writer",
        [
            {"apiGroups": [RBAC_GROUP], "resources": ["roles"], "verbs": ["create", "patch"]},
            {
                "apiGroups": [RBAC_GROUP],
                "resources": ["roles"],
                "verbs": ["escalate"],
                "resourceNames": ["power"],
            },
        ],
    )
    secrets = [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]
    role = {"apiVersion": RBAC, "kind": "Role", "metadata": {"name": "power"}, "rules": secrets}
    base = "/apis/rbac.authorization.k8s.io/v1/namespaces/team/roles"
    code, err = await as_token(served, token, "POST", base, role)
    assert code == 403 and err["message"].endswith(
        'not currently held:\n{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}'
    )
    assert store.get("Role", "team", "power") is None
    create(store, {**role, "metadata": {"name": "power", "namespace": "team"}, "rules": []})
    code, out = await patch_as(served, token, f"{base}/power", {"rules": secrets}, MERGE)
    assert code == 200 and out["rules"] == secrets


async def test_an_aggregated_cluster_role_takes_full_authority_to_change(served: Served) -> None:
    """clusterrole/policybased/storage.go: the aggregationRule of the old object counts too, so
    dropping it from `view` is cluster-admin's to do even with rules the writer holds."""
    store = served.store
    pod = setup_team(store)
    token = served.server.tokens.issue(pod, None, 3607)
    rules = [{"apiGroups": [RBAC_GROUP], "resources": ["clusterroles"], "verbs": ["get", "patch"]}]
    grant(store, "clusterrole-writer", rules, cluster=True)
    path = "/apis/rbac.authorization.k8s.io/v1/clusterroles/view"
    code, err = await patch_as(served, token, path, {"aggregationRule": None, "rules": rules}, MERGE)
    assert (code, err["message"]) == (
        403,
        'clusterroles.rbac.authorization.k8s.io "view" is forbidden: must have cluster-admin '
        "privileges to use the aggregationRule",
    )
    view = store.get("ClusterRole", "", "view")
    assert view is not None and view.to_json().get("aggregationRule")


async def test_a_token_is_bound_only_to_a_pod_of_its_service_account(served: Served) -> None:
    """token.go: binding default's token to a pod of reader would lend it that pod's identity."""
    setup_team(served.store)
    create(
        served.store,
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": "team"}},
    )
    request = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "app"}},
    }
    sa = "/api/v1/namespaces/team/serviceaccounts"
    code, err, _ = await served.request("POST", f"{sa}/default/token", request)
    assert (code, err["message"]) == (
        400,
        'cannot bind token for serviceaccount "default" to pod running with different serviceaccount name.',
    )
    code, out, _ = await served.request("POST", f"{sa}/reader/token", request)
    assert code == 201 and out["status"]["token"]


def test_only_valid_service_account_names_are_impersonated_as_service_accounts() -> None:
    """serviceaccount.SplitUsername: anything but a valid NS and NAME is a user, which takes
    impersonate on users (not on serviceaccounts, nor with the service accounts' groups)."""
    assert split_service_account("system:serviceaccount:team:app") == ("team", "app")
    for name in (
        "system:serviceaccount:team:App",
        "system:serviceaccount::app",
        "system:serviceaccount:team:app\n",
        "system:serviceaccount:team:a:b",
        "system:serviceaccount:team:",
    ):
        assert split_service_account(name) is None, name
    store = Store(FakeClock())
    create(store, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    grant(
        store,
        "sa-impersonator",
        [{"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"]}],
    )
    authorizer = Authorizer(store)
    user = impersonated(
        authorizer, READER, CIMultiDict({"Impersonate-User": "system:serviceaccount:team:app"})
    )
    assert user is not None and "system:serviceaccounts:team" in user.groups
    with pytest.raises(ApiError) as caught:
        impersonated(authorizer, READER, CIMultiDict({"Impersonate-User": "system:serviceaccount:team:App"}))
    assert caught.value.code == 403
    assert 'cannot impersonate resource "users" in API group "" at the cluster scope' in str(
        caught.value.status()["message"]
    )


def test_a_rules_review_names_a_namespace() -> None:
    """selfsubjectrulesreview/rest.go: "no namespace on request"."""
    authorizer = Authorizer(Store(FakeClock()))
    review = {"kind": "SelfSubjectRulesReview", "spec": {}}
    with pytest.raises(ApiError) as caught:
        answer(authorizer, READER, review)
    assert (caught.value.code, caught.value.status()["message"]) == (400, "no namespace on request")


def test_a_token_of_another_audience_is_refused_in_kube_apiserver_s_words() -> None:
    """jwt.go: the audiences as Go's %q prints a []string."""
    store = Store(FakeClock())
    create(store, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    create(
        store,
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "reader", "namespace": "team"}},
    )
    tokens = ServiceAccountTokens(store, FakeClock())
    token = tokens.request("team", "reader", ["vault", "nomad"], 3600)
    with pytest.raises(TokenError) as caught:
        tokens.authenticate(token)
    assert str(caught.value) == (
        'token audiences ["vault" "nomad"] is invalid for the target audiences '
        '["https://kubernetes.default.svc.cluster.local"]'
    )
    assert tokens.authenticate(token, ["nomad"]).name == "system:serviceaccount:team:reader"


async def test_an_apply_that_creates_is_authorized_as_a_create(served: Served) -> None:
    """handlers/patch.go (withAuthorization of the create attributes): `patch` alone does not
    make objects through server-side apply, nor does a subresource's apply make any."""
    store = served.store
    pod = setup_team(store)
    grant(
        store,
        "cm-patcher",
        [{"apiGroups": [""], "resources": ["configmaps", "pods/status"], "verbs": ["patch"]}],
    )
    token = served.server.tokens.issue(pod, None, 3607)
    applied = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "new"}, "data": {"a": "1"}}
    path = "/api/v1/namespaces/team/configmaps/new?fieldManager=me"
    code, err = await patch_as(served, token, path, applied, "application/apply-patch+yaml")
    assert (code, err["message"], err["details"]) == (
        403,
        'configmaps "new" is forbidden: ',
        {"name": "new", "kind": "configmaps"},
    )
    assert store.get("ConfigMap", "team", "new") is None
    grant(store, "cm-creator", [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]}])
    code, _ = await patch_as(served, token, path, applied, "application/apply-patch+yaml")
    assert code == 201 and store.get("ConfigMap", "team", "new") is not None
    pod_apply = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "ghost"},
        "status": {"phase": "Running"},
    }
    status_path = "/api/v1/namespaces/team/pods/ghost/status?fieldManager=me"
    code, err = await patch_as(served, token, status_path, pod_apply, "application/apply-patch+yaml")
    assert (code, err["message"]) == (404, 'pods "ghost" not found')
    assert store.get("Pod", "team", "ghost") is None
