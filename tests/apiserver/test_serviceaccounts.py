"""Service-account tokens against the API server: who they authenticate as, what RBAC lets them
do, when they stop working; and what the control plane and the ServiceAccount admission keep."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from cryptography import x509

from hitless.api.types.meta import ObjectMeta
from hitless.api.types.pod import Container, Pod, PodSpec
from hitless.apiserver import kinds, writes
from hitless.apiserver.admission import TOKEN_MOUNT_PATH
from hitless.apiserver.serviceaccount import ServiceAccountTokens, TokenRequestError
from hitless.store.store import Store
from tests.apiserver.conftest import Served, client_ssl

RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC = f"{RBAC_GROUP}/v1"


class At:
    """A wall clock stopped at one moment (the issuer's view of "now")."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def wall(self) -> datetime:
        return self.moment


def create(store: Store, data: dict[str, Any]) -> Any:
    resource = kinds.by_kind(data["kind"])
    assert resource is not None
    return store.create(writes.decode(resource, data))


def setup_team(store: Store) -> Pod:
    create(store, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    create(
        store,
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "reader", "namespace": "team"}},
    )
    return setup_pod(store)


def grant_list_pods(store: Store) -> None:
    create(
        store,
        {
            "apiVersion": RBAC,
            "kind": "Role",
            "metadata": {"name": "pod-reader", "namespace": "team"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}],
        },
    )
    create(
        store,
        {
            "apiVersion": RBAC,
            "kind": "RoleBinding",
            "metadata": {"name": "read-pods", "namespace": "team"},
            "subjects": [{"kind": "ServiceAccount", "name": "reader"}],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
        },
    )


async def as_token(served: Served, token: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    # A client with the CA only: a pod's in-cluster config has no client certificate.
    connector = aiohttp.TCPConnector(ssl=client_ssl(served.server, with_cert=False))
    async with aiohttp.ClientSession(connector=connector) as session:
        headers = {"Authorization": f"Bearer {token}"}
        async with session.request(method, served.url + path, json=body, headers=headers) as resp:
            return resp.status, await resp.json()


async def test_a_token_is_its_service_account_and_gets_what_rbac_grants(served: Served) -> None:
    pod = setup_team(served.store)
    token = served.server.tokens.issue(pod, None, 3607)
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["sub"] == "system:serviceaccount:team:reader"
    assert claims["aud"] == ["https://kubernetes.default.svc.cluster.local"]
    assert claims["kubernetes.io"]["pod"] == {"name": "app", "uid": pod.metadata.uid}

    code, err = await as_token(served, token, "GET", "/api/v1/namespaces/team/pods")
    assert code == 403
    assert err["reason"] == "Forbidden" and err["details"] == {"kind": "pods"}
    assert err["message"] == (
        'pods is forbidden: User "system:serviceaccount:team:reader" cannot list resource "pods" '
        'in API group "" in the namespace "team"'
    )
    # Discovery is every authenticated user's (system:discovery).
    code, _ = await as_token(served, token, "GET", "/api/v1")
    assert code == 200

    grant_list_pods(served.store)
    code, pods = await as_token(served, token, "GET", "/api/v1/namespaces/team/pods")
    assert code == 200 and [p["metadata"]["name"] for p in pods["items"]] == ["app"]
    code, _ = await as_token(served, token, "GET", "/api/v1/namespaces/default/pods")
    assert code == 403
    code, err = await as_token(served, token, "DELETE", "/api/v1/namespaces/team/pods/app")
    assert code == 403 and err["details"] == {"name": "app", "kind": "pods"}
    assert err["message"].startswith(
        'pods "app" is forbidden: User "system:serviceaccount:team:reader" cannot delete'
    )
    # The admin is system:masters, whatever RBAC says.
    code, _, _ = await served.request("DELETE", "/api/v1/namespaces/team/pods/app")
    assert code == 200


async def test_self_subject_access_review_answers_for_the_requester(served: Served) -> None:
    pod = setup_team(served.store)
    token = served.server.tokens.issue(pod, None, 3607)
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"namespace": "team", "verb": "list", "resource": "pods"}},
    }
    path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
    code, answer = await as_token(served, token, "POST", path, review)
    assert code == 201 and answer["status"] == {"allowed": False}
    grant_list_pods(served.store)
    code, answer = await as_token(served, token, "POST", path, review)
    assert answer["status"]["allowed"] is True
    code, answer, _ = await served.request("POST", path, review)
    assert code == 201 and answer["status"] == {"allowed": True}


async def test_tokens_that_do_not_authenticate(served: Served) -> None:
    pod = setup_team(served.store)
    grant_list_pods(served.store)
    path = "/api/v1/namespaces/team/pods"
    tokens = served.server.tokens
    good = tokens.issue(pod, None, 3607)
    assert (await as_token(served, good, "GET", path))[0] == 200

    header, body, signature = good.split(".")
    forged_claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    forged_claims["sub"] = "system:serviceaccount:kube-system:admin"
    forged_body = base64.urlsafe_b64encode(json.dumps(forged_claims).encode()).rstrip(b"=").decode()
    other_key = ServiceAccountTokens(served.store, tokens.clock).issue(pod, None, 3607)
    now = datetime.now(UTC)
    # go-jose's one minute of leeway: expired 61 s ago is refused, 30 s ago still accepted.
    expired = ServiceAccountTokens(served.store, At(now - timedelta(seconds=661)), tokens.key).issue(
        pod, None, 600
    )
    lenient = ServiceAccountTokens(served.store, At(now - timedelta(seconds=630)), tokens.key).issue(
        pod, None, 600
    )
    vault = tokens.issue(pod, "vault", 3607)
    for bad in (f"{header}.{forged_body}.{signature}", other_key, expired, vault, "a.b", good + "x"):
        code, err = await as_token(served, bad, "GET", path)
        assert (code, err["message"]) == (401, "Unauthorized")
    assert (await as_token(served, lenient, "GET", path))[0] == 200


async def test_a_token_dies_with_its_pod_and_its_service_account(served: Served) -> None:
    pod = setup_team(served.store)
    grant_list_pods(served.store)
    token = served.server.tokens.issue(pod, None, 3607)
    path = "/api/v1/namespaces/team/pods"
    # A pod being deleted keeps its token until a minute after its deletionTimestamp.
    served.store.delete("Pod", "team", "app", grace_period_seconds=30)
    assert (await as_token(served, token, "GET", path))[0] == 200
    served.store.delete("Pod", "team", "app", grace_period_seconds=0)
    assert served.store.get("Pod", "team", "app") is None
    assert (await as_token(served, token, "GET", path))[0] == 401
    # A pod of the same name is another pod: its UID is not the token's.
    again = setup_pod(served.store)
    assert (await as_token(served, token, "GET", path))[0] == 401
    token = served.server.tokens.issue(again, None, 3607)
    assert (await as_token(served, token, "GET", path))[0] == 200
    served.store.delete("ServiceAccount", "team", "reader")
    assert (await as_token(served, token, "GET", path))[0] == 401
    create(
        served.store,
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "reader", "namespace": "team"}},
    )
    assert (await as_token(served, token, "GET", path))[0] == 401


def setup_pod(store: Store) -> Pod:
    # Bound to a node: the API server deletes an unscheduled pod at once, whatever the grace period.
    spec = PodSpec(
        containers=[Container(name="app", image="nginx")], serviceAccountName="reader", nodeName="n"
    )  # type: ignore[call-arg]
    return store.create(Pod(metadata=ObjectMeta(name="app", namespace="team"), spec=spec))


def test_no_token_for_a_service_account_that_does_not_exist() -> None:
    from hitless.clock import FakeClock

    store = Store(FakeClock())
    spec = PodSpec(containers=[Container(name="app", image="nginx")], serviceAccountName="ghost")  # type: ignore[call-arg]
    pod = store.create(Pod(metadata=ObjectMeta(name="app"), spec=spec))
    with pytest.raises(TokenRequestError, match='serviceaccounts "ghost" not found'):
        ServiceAccountTokens(store, FakeClock()).issue(pod, None, 3607)


async def test_the_control_plane_objects(served: Served) -> None:
    store = served.store
    service = store.get("Service", "default", "kubernetes")
    assert service is not None
    spec = service.to_json()["spec"]
    assert spec["ports"] == [
        {"name": "https", "port": 443, "protocol": "TCP", "targetPort": served.server.port}
    ]
    slice_ = store.get("EndpointSlice", "default", "kubernetes")
    assert slice_ is not None and slice_.to_json()["endpoints"][0]["addresses"] == ["127.0.0.1"]
    assert slice_.to_json()["ports"][0]["port"] == served.server.port
    endpoints = store.get("Endpoints", "default", "kubernetes")
    assert endpoints is not None
    # The serving certificate names the cluster IP and the Service's DNS names (in-cluster config).
    assert served.server.credentials is not None
    cert = x509.load_pem_x509_certificate(served.server.credentials.server_cert_pem)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert spec["clusterIP"] in [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)]
    assert "kubernetes.default.svc" in sans.get_values_for_type(x509.DNSName)
    ctx = ssl.create_default_context(cadata=served.server.credentials.ca_pem.decode())
    assert ctx is not None
    # Every namespace gets the default ServiceAccount and the root CA, also one made later, and
    # a deleted one comes back.
    ca = served.server.credentials.ca_pem.decode()
    for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
        cm = store.get("ConfigMap", ns, "kube-root-ca.crt")
        assert cm is not None and cm.to_json()["data"] == {"ca.crt": ca}
        assert store.get("ServiceAccount", ns, "default") is not None
    code, _, _ = await served.request("POST", "/api/v1/namespaces", {"metadata": {"name": "later"}})
    assert code == 201
    await until(store, lambda: store.get("ConfigMap", "later", "kube-root-ca.crt") is not None)
    assert store.get("ServiceAccount", "later", "default") is not None
    store.delete("ConfigMap", "later", "kube-root-ca.crt")
    await until(store, lambda: store.get("ConfigMap", "later", "kube-root-ca.crt") is not None)
    patch = {"data": {"ca.crt": "not a CA"}}
    code, _, _ = await served.request(
        "PATCH",
        "/api/v1/namespaces/later/configmaps/kube-root-ca.crt",
        patch,
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert code == 200

    def bundle() -> Any:
        cm = store.get("ConfigMap", "later", "kube-root-ca.crt")
        return cm is not None and cm.to_json()["data"] == {"ca.crt": ca}

    await until(store, bundle)
    # The aggregation follows ClusterRoles made through the API.
    widgets = {"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["get"]}
    labels = {"rbac.authorization.k8s.io/aggregate-to-view": "true"}
    made = {
        "apiVersion": RBAC,
        "kind": "ClusterRole",
        "metadata": {"name": "w", "labels": labels},
        "rules": [widgets],
    }
    code, _, _ = await served.request("POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", made)
    assert code == 201

    def gathered(name: str) -> bool:
        role = store.get("ClusterRole", "", name)
        return role is not None and widgets in (role.to_json().get("rules") or [])

    await until(store, lambda: gathered("view") and gathered("edit") and gathered("admin"))
    code, roles, _ = await served.request("GET", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings")
    names = {r["metadata"]["name"] for r in roles["items"]}
    assert {"cluster-admin", "system:discovery", "system:basic-user", "system:public-info-viewer"} <= names


async def until(store: Store, what: Any, timeout: float = 5.0) -> None:
    """Until ``what()`` holds, checked at each change of the store (the watch opened first)."""
    with store.watch(None, initial=False) as watch:
        if what():
            return
        async with asyncio.timeout(timeout):
            async for _ in watch:
                if what():
                    return


def volume_of(pod: Pod) -> list[dict[str, Any]]:
    return [v for v in pod.to_json()["spec"].get("volumes", []) if v["name"].startswith("kube-api-access-")]


async def test_the_service_account_admission_mounts_the_api_access(served: Served) -> None:
    store = served.store
    setup_team(store)
    pod = store.get("Pod", "team", "app")
    assert isinstance(pod, Pod)
    [volume] = volume_of(pod)
    assert volume["projected"]["defaultMode"] == 420
    assert [list(s) for s in volume["projected"]["sources"]] == [
        ["serviceAccountToken"],
        ["configMap"],
        ["downwardAPI"],
    ]
    mounts = pod.to_json()["spec"]["containers"][0]["volumeMounts"]
    assert mounts == [{"mountPath": TOKEN_MOUNT_PATH, "name": volume["name"], "readOnly": True}]
    assert pod.to_json()["spec"]["serviceAccount"] == "reader"

    def made(name: str, **spec: Any) -> Pod:
        data = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": "team"},
            "spec": {
                "containers": [{"name": "a", "image": "nginx"}, {"name": "b", "image": "nginx"}],
                **spec,
            },
        }
        made_pod = create(store, data)
        assert isinstance(made_pod, Pod)
        return made_pod

    # The pod's own choice, then its ServiceAccount's.
    assert volume_of(made("off", automountServiceAccountToken=False)) == []
    create(
        store,
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "quiet", "namespace": "team"},
            "automountServiceAccountToken": False,
        },
    )
    assert volume_of(made("quiet", serviceAccountName="quiet")) == []
    assert volume_of(made("loud", serviceAccountName="quiet", automountServiceAccountToken=True)) != []
    # A container with its own mount at the path keeps it.
    own = made(
        "own",
        volumes=[{"name": "mine", "emptyDir": {}}],
        containers=[
            {
                "name": "a",
                "image": "nginx",
                "volumeMounts": [{"name": "mine", "mountPath": TOKEN_MOUNT_PATH}],
            },
            {"name": "b", "image": "nginx"},
        ],
    )
    a, b = own.to_json()["spec"]["containers"]
    assert [m["name"] for m in a["volumeMounts"]] == ["mine"]
    assert b["volumeMounts"][0]["name"].startswith("kube-api-access-")


async def test_no_grant_beyond_what_the_writer_holds(served: Served) -> None:
    """The RBAC kinds' escalation check: a service account that may write RoleBindings and Roles
    still cannot hand out what it does not hold, unless it may bind (or escalate) that role."""
    store = served.store
    pod = setup_team(store)
    token = served.server.tokens.issue(pod, None, 3607)
    create(
        store,
        {
            "apiVersion": RBAC,
            "kind": "Role",
            "metadata": {"name": "rbac-writer", "namespace": "team"},
            "rules": [
                {
                    "apiGroups": [RBAC_GROUP],
                    "resources": ["roles", "rolebindings"],
                    "verbs": ["create", "patch"],
                },
                {"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list"]},
            ],
        },
    )
    create(
        store,
        {
            "apiVersion": RBAC,
            "kind": "RoleBinding",
            "metadata": {"name": "rbac-writer", "namespace": "team"},
            "subjects": [{"kind": "ServiceAccount", "name": "reader"}],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "rbac-writer"},
        },
    )
    base = "/apis/rbac.authorization.k8s.io/v1/namespaces/team"

    def binding(name: str, kind: str, role: str) -> dict[str, Any]:
        return {
            "apiVersion": RBAC,
            "kind": "RoleBinding",
            "metadata": {"name": name},
            "subjects": [{"kind": "ServiceAccount", "name": "default"}],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
        }

    code, err = await as_token(
        served, token, "POST", f"{base}/rolebindings", binding("x", "ClusterRole", "cluster-admin")
    )
    assert code == 403
    assert err["message"] == (
        'rolebindings.rbac.authorization.k8s.io "x" is forbidden: user "system:serviceaccount:team:reader" '
        '(groups=["system:serviceaccounts" "system:serviceaccounts:team" "system:authenticated"]) '
        "is attempting to grant RBAC permissions not currently held:\n"
        '{APIGroups:["*"], Resources:["*"], Verbs:["*"]}\n{NonResourceURLs:["*"], Verbs:["*"]}'
    )
    assert store.get("RoleBinding", "team", "x") is None
    # A role with less than the writer holds may be made and bound.
    role = {
        "apiVersion": RBAC,
        "kind": "Role",
        "metadata": {"name": "log-reader"},
        "rules": [{"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}],
    }
    assert (await as_token(served, token, "POST", f"{base}/roles", role))[0] == 201
    assert (
        await as_token(served, token, "POST", f"{base}/rolebindings", binding("y", "Role", "log-reader"))
    )[0] == 201
    # ... but not one with more, nor a change of the role it holds into more.
    role["metadata"]["name"] = "secret-reader"
    role["rules"] = [{"apiGroups": [""], "resources": ["secrets", "pods"], "verbs": ["get", "delete"]}]
    code, err = await as_token(served, token, "POST", f"{base}/roles", role)
    assert code == 403 and err["message"].endswith(
        'not currently held:\n{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}\n'
        '{APIGroups:[""], Resources:["secrets"], Verbs:["get" "delete"]}'
    )
    patch = [{"op": "add", "path": "/rules/0/verbs/-", "value": "delete"}]
    code, _ = await as_token_patch(served, token, f"{base}/roles/log-reader", patch)
    assert code == 403
    # Binding a role one is explicitly allowed to bind needs no more.
    create(
        store,
        {
            "apiVersion": RBAC,
            "kind": "RoleBinding",
            "metadata": {"name": "may-bind", "namespace": "team"},
            "subjects": [{"kind": "ServiceAccount", "name": "reader"}],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "binder"},
        },
    )
    create(
        store,
        {
            "apiVersion": RBAC,
            "kind": "Role",
            "metadata": {"name": "binder", "namespace": "team"},
            "rules": [
                {
                    "apiGroups": [RBAC_GROUP],
                    "resources": ["clusterroles"],
                    "verbs": ["bind"],
                    "resourceNames": ["cluster-admin"],
                }
            ],
        },
    )
    admin_binding = binding("x", "ClusterRole", "cluster-admin")
    assert (await as_token(served, token, "POST", f"{base}/rolebindings", admin_binding))[0] == 201


async def as_token_patch(served: Served, token: str, path: str, body: Any) -> tuple[int, Any]:
    connector = aiohttp.TCPConnector(ssl=client_ssl(served.server, with_cert=False))
    async with aiohttp.ClientSession(connector=connector) as session:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json-patch+json"}
        async with session.patch(served.url + path, data=json.dumps(body), headers=headers) as resp:
            return resp.status, await resp.json()


async def test_a_token_request_bound_to_a_pod(served: Served) -> None:
    pod = setup_team(served.store)
    grant_list_pods(served.store)
    path = "/api/v1/namespaces/team/serviceaccounts/reader/token"

    def request(uid: str | None) -> dict[str, Any]:
        ref = {"kind": "Pod", "apiVersion": "v1", "name": "app"} | ({"uid": uid} if uid else {})
        return {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"boundObjectRef": ref},
        }

    code, err, _ = await served.request("POST", path, request("not-its-uid"))
    assert code == 409 and err["message"] == (
        'Operation cannot be fulfilled on TokenRequest.authentication.k8s.io "app": the UID in the bound '
        "object reference (not-its-uid) does not match the UID in record. The object might have been "
        "deleted and then recreated"
    )
    code, answer, _ = await served.request("POST", path, request(None))
    assert code == 201
    assert answer["spec"]["expirationSeconds"] == 3600
    assert answer["spec"]["audiences"] == ["https://kubernetes.default.svc.cluster.local"]
    assert answer["spec"]["boundObjectRef"]["uid"] == pod.metadata.uid
    token = answer["status"]["token"]
    assert (await as_token(served, token, "GET", "/api/v1/namespaces/team/pods"))[0] == 200
    served.store.delete("Pod", "team", "app", grace_period_seconds=0)
    assert (await as_token(served, token, "GET", "/api/v1/namespaces/team/pods"))[0] == 401
    # Asking for a token is itself authorized: the reader may not.
    other = served.server.tokens.request("team", "reader", [], 3600)
    code, err = await as_token(served, other, "POST", path, request(None))
    assert code == 403 and 'cannot create resource "serviceaccounts/token"' in err["message"]


async def test_leader_election_s_lease_as_a_service_account(served: Served) -> None:
    """client-go's LeaseLock: get (404), create, then update with the resourceVersion read."""
    pod = setup_team(served.store)
    create(
        served.store,
        {
            "apiVersion": RBAC,
            "kind": "Role",
            "metadata": {"name": "leader", "namespace": "team"},
            "rules": [
                {
                    "apiGroups": ["coordination.k8s.io"],
                    "resources": ["leases"],
                    "verbs": ["get", "create", "update"],
                }
            ],
        },
    )
    create(
        served.store,
        {
            "apiVersion": RBAC,
            "kind": "RoleBinding",
            "metadata": {"name": "leader", "namespace": "team"},
            "subjects": [{"kind": "ServiceAccount", "name": "reader"}],
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": "leader"},
        },
    )
    token = served.server.tokens.issue(pod, None, 3607)
    path = "/apis/coordination.k8s.io/v1/namespaces/team/leases"
    assert (await as_token(served, token, "GET", f"{path}/op-lock"))[0] == 404
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "op-lock"},
        "spec": {"holderIdentity": "app", "leaseDurationSeconds": 15, "leaseTransitions": 0},
    }
    code, made = await as_token(served, token, "POST", path, lease)
    assert code == 201
    made["spec"]["renewTime"] = "2026-01-01T00:00:00.000000Z"
    code, renewed = await as_token(served, token, "PUT", f"{path}/op-lock", made)
    assert code == 200 and renewed["spec"]["renewTime"] == "2026-01-01T00:00:00.000000Z"
    code, _ = await as_token(served, token, "DELETE", f"{path}/op-lock")
    assert code == 403


async def test_delegated_token_and_access_reviews(served: Served) -> None:
    """What kube-rbac-proxy asks: a component bound to system:auth-delegator checks its clients'
    tokens (TokenReview) and their access (SubjectAccessReview) through this server."""
    store = served.store
    pod = setup_team(store)
    grant_list_pods(store)
    create(
        store,
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "proxy", "namespace": "team"}},
    )
    proxy = served.server.tokens.request("team", "proxy", [], 3600)
    client = served.server.tokens.issue(pod, None, 3607)
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": client}}
    path = "/apis/authentication.k8s.io/v1/tokenreviews"
    code, err = await as_token(served, proxy, "POST", path, review)
    assert code == 403
    create(
        store,
        {
            "apiVersion": RBAC,
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "proxy-auth"},
            "subjects": [{"kind": "ServiceAccount", "name": "proxy", "namespace": "team"}],
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": "system:auth-delegator"},
        },
    )
    code, answer = await as_token(served, proxy, "POST", path, review)
    assert code == 201 and answer["status"]["authenticated"] is True
    user = answer["status"]["user"]
    assert user["username"] == "system:serviceaccount:team:reader"
    assert user["extra"]["authentication.kubernetes.io/pod-name"] == ["app"]
    assert answer["status"]["audiences"] == ["https://kubernetes.default.svc.cluster.local"]
    # A token for another audience, or none of ours, is not authenticated.
    other = {**review, "spec": {"token": client, "audiences": ["vault"]}}
    code, answer = await as_token(served, proxy, "POST", path, other)
    assert (
        answer["status"]["authenticated"] is False
        and "invalid for the target audiences" in answer["status"]["error"]
    )
    vault = served.server.tokens.issue(pod, "vault", 3607)
    code, answer = await as_token(
        served, proxy, "POST", path, {**review, "spec": {"token": vault, "audiences": ["vault"]}}
    )
    assert answer["status"]["authenticated"] is True and answer["status"]["audiences"] == ["vault"]

    sar = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": "system:serviceaccount:team:reader",
            "groups": ["system:serviceaccounts", "system:serviceaccounts:team", "system:authenticated"],
            "resourceAttributes": {"namespace": "team", "verb": "list", "resource": "pods"},
        },
    }
    code, answer = await as_token(
        served, proxy, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", sar
    )
    assert code == 201 and answer["status"]["allowed"] is True
    sar["spec"]["resourceAttributes"]["verb"] = "delete"
    code, answer = await as_token(
        served, proxy, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", sar
    )
    assert answer["status"] == {"allowed": False}
    # The local one answers in its namespace only; the admin may ask it.
    local = {**sar, "kind": "LocalSubjectAccessReview"}
    local_path = "/apis/authorization.k8s.io/v1/namespaces/default/localsubjectaccessreviews"
    code, err, _ = await served.request("POST", local_path, local)
    assert (code, err["message"]) == (400, "spec.resourceAttributes.namespace must match namespace: default")


async def test_impersonation_takes_the_impersonate_verb(served: Served) -> None:
    pod = setup_team(served.store)
    token = served.server.tokens.issue(pod, None, 3607)
    headers = {"Impersonate-User": "system:serviceaccount:team:default"}
    connector = aiohttp.TCPConnector(ssl=client_ssl(served.server, with_cert=False))
    async with aiohttp.ClientSession(connector=connector) as session:

        async def get(extra: dict[str, str]) -> tuple[int, Any]:
            all_headers = {"Authorization": f"Bearer {token}", **extra}
            async with session.get(served.url + "/api/v1/namespaces/team/pods", headers=all_headers) as resp:
                return resp.status, await resp.json()

        code, err = await get(headers)
        assert (code, err["message"]) == (
            403,
            'serviceaccounts "default" is forbidden: User "system:serviceaccount:team:reader" cannot '
            'impersonate resource "serviceaccounts" in API group "" in the namespace "team"',
        )
        code, err = await get({"Impersonate-Group": "system:masters"})
        assert (
            code == 400
            and err["message"] == "requested ['Group=system:masters'] without impersonating a user"
        )
    # The admin may impersonate anyone, and then has only their access.
    code, err, _ = await served.request("GET", "/api/v1/namespaces/team/pods", headers=headers)
    assert code == 403 and 'User "system:serviceaccount:team:default" cannot list' in err["message"]
    both = {"Impersonate-User": "someone", "Impersonate-Group": "system:masters"}
    code, _, _ = await served.request("GET", "/api/v1/namespaces/team/pods", headers=both)
    assert code == 200
