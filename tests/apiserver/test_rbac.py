"""The RBAC authorizer's rules (rbac.go, evaluation_helpers.go, rule.go) and the request attributes
the API server hands it (requestinfo.go), without a server."""

from __future__ import annotations

from typing import Any

import pytest

from hitless.api.types.meta import K8sObject
from hitless.apiserver.controlplane import ControlPlane
from hitless.apiserver.rbac import (
    Attributes,
    Authorizer,
    aggregate,
    forbidden_message,
    non_resource_url_matches,
    resource_matches,
    rule_allows,
)
from hitless.apiserver.requestinfo import request_attributes
from hitless.apiserver.reviews import access_review, answer
from hitless.apiserver.serviceaccount import ADMIN, UserInfo, service_account_user
from hitless.clock import FakeClock
from hitless.store.store import Store

SA = service_account_user("team", "reader")
ALICE = UserInfo("alice", ("devs", "system:authenticated"))


def res(
    verb: str,
    resource: str,
    namespace: str = "team",
    group: str = "",
    sub: str = "",
    name: str = "",
    user: UserInfo = SA,
) -> Attributes:
    return Attributes(user, verb, True, namespace, group, "v1", resource, sub, name)


def url(verb: str, path: str, user: UserInfo = SA) -> Attributes:
    return Attributes(user, verb, False, path=path)


# --- evaluation_helpers.go, through RuleAllows (rbac_test.go TestRuleMatches's shape) -------------


def rule(
    verbs: str, groups: str = "", resources: str = "", names: str = "", urls: str = ""
) -> dict[str, Any]:
    """A PolicyRule from space-separated lists ("-" is the core group "")."""
    out: dict[str, Any] = {"verbs": verbs.split()}
    if resources:
        out["apiGroups"] = ["" if g == "-" else g for g in groups.split()]
        out["resources"] = resources.split()
    if names:
        out["resourceNames"] = names.split()
    if urls:
        out["nonResourceURLs"] = urls.split()
    return out


DEPLOY = "deployments"
RULE_CASES: list[tuple[str, dict[str, Any], Attributes, bool]] = [
    ("exact", rule("list", "-", "pods"), res("list", "pods"), True),
    ("other verb", rule("list", "-", "pods"), res("get", "pods"), False),
    ("verb star", rule("*", "-", "pods"), res("delete", "pods"), True),
    ("other group", rule("list", "apps", "pods"), res("list", "pods"), False),
    ("group star", rule("list", "*", DEPLOY), res("list", DEPLOY, group="apps"), True),
    ("resource star", rule("get", "apps", "*"), res("get", DEPLOY, group="apps", sub="scale"), True),
    (
        "subresource needs its own rule",
        rule("get", "-", "pods"),
        res("get", "pods", sub="log", name="w"),
        False,
    ),
    ("resource/subresource", rule("get", "-", "pods/log"), res("get", "pods", sub="log", name="w"), True),
    (
        "*/subresource",
        rule("update", "*", "*/status"),
        res("update", DEPLOY, "t", "apps", "status", "w"),
        True,
    ),
    (
        "*/subresource is not the resource",
        rule("update", "*", "*/status"),
        res("update", DEPLOY, "t", "apps"),
        False,
    ),
    (
        "*/other subresource",
        rule("get", "*", "*/scale"),
        res("get", DEPLOY, "t", "apps", "status", "w"),
        False,
    ),
    ("resourceNames match", rule("get", "-", "configmaps", "a"), res("get", "configmaps", name="a"), True),
    ("resourceNames other", rule("get", "-", "configmaps", "a"), res("get", "configmaps", name="b"), False),
    (
        "resourceNames never match a list",
        rule("list", "-", "configmaps", "a"),
        res("list", "configmaps"),
        False,
    ),
    ("resource rule is not a URL rule", rule("get", "*", "*"), url("get", "/healthz"), False),
    ("URL exact", rule("get", urls="/healthz"), url("get", "/healthz"), True),
    ("URL other", rule("get", urls="/healthz"), url("get", "/healthz/etcd"), False),
    ("URL prefix star", rule("get", urls="/apis/*"), url("get", "/apis/apps/v1"), True),
    ("URL prefix star needs the prefix", rule("get", urls="/apis/*"), url("get", "/apis"), False),
    ("URL star", rule("*", urls="*"), url("post", "/anything"), True),
    ("URL rule is not a resource rule", rule("*", urls="*"), res("get", "pods"), False),
    ("URL verb", rule("get", urls="/version"), url("post", "/version"), False),
]
CASE_IDS = [c[0] for c in RULE_CASES]


@pytest.mark.parametrize(("rule", "attrs", "allowed"), [c[1:] for c in RULE_CASES], ids=CASE_IDS)
def test_rule_allows(rule: dict[str, Any], attrs: Attributes, allowed: bool) -> None:
    assert rule_allows(attrs, rule) is allowed


def test_resource_and_url_matching_edges() -> None:
    # ResourceMatches's "*/x" is exactly two characters longer than the subresource.
    assert not resource_matches({"resources": ["*/tatus"]}, "pods/status", "status")
    assert not resource_matches({"resources": ["x/status"]}, "pods/status", "status")
    assert non_resource_url_matches({"nonResourceURLs": ["/a**"]}, "/a")
    assert not non_resource_url_matches({}, "/a")


# --- rule.go and the chain --------------------------------------------------------------------


def _obj(data: dict[str, Any]) -> K8sObject:
    from hitless.apiserver import kinds, writes

    resource = kinds.by_kind(data["kind"])
    assert resource is not None
    return writes.decode(resource, data)


RBAC_V1 = "rbac.authorization.k8s.io/v1"


def role(name: str, rules: list[dict[str, Any]], namespace: str | None = "team") -> K8sObject:
    kind = "Role" if namespace else "ClusterRole"
    meta: dict[str, Any] = {"name": name} | ({"namespace": namespace} if namespace else {})
    return _obj(
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta, "rules": rules}
    )


def binding(
    name: str, ref_kind: str, ref: str, subjects: list[dict[str, Any]], namespace: str | None = "team"
) -> K8sObject:
    kind = "RoleBinding" if namespace else "ClusterRoleBinding"
    meta: dict[str, Any] = {"name": name} | ({"namespace": namespace} if namespace else {})
    return _obj(
        {
            "apiVersion": RBAC_V1,
            "kind": kind,
            "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": ref_kind, "name": ref},
            "subjects": subjects,
        }
    )


@pytest.fixture
def store() -> Store:
    s = Store(FakeClock())
    plane = ControlPlane(s)
    plane.ensure_namespaces()
    plane.ensure_policy()
    s.create(_obj({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}))
    return s


READ_PODS = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]


def test_a_role_binding_grants_its_role_in_its_namespace_only(store: Store) -> None:
    authz = Authorizer(store)
    assert not authz.authorize(res("list", "pods")).allowed
    store.create(role("pod-reader", READ_PODS))
    store.create(binding("read-pods", "Role", "pod-reader", [{"kind": "ServiceAccount", "name": "reader"}]))
    decision = authz.authorize(res("list", "pods"))
    # The subject's namespace defaults to the binding's (appliesToUser).
    assert decision.allowed
    assert decision.reason == (
        'RBAC: allowed by RoleBinding "read-pods/team" of Role "pod-reader" to ServiceAccount "reader/team"'
    )
    assert not authz.authorize(res("list", "pods", namespace="other")).allowed
    assert not authz.authorize(res("list", "pods", namespace="")).allowed
    assert not authz.authorize(res("delete", "pods", name="x")).allowed
    # Another service account of the namespace is not the subject.
    assert not authz.authorize(res("list", "pods", user=service_account_user("team", "default"))).allowed


def test_subjects_users_groups_and_service_accounts_of_other_namespaces(store: Store) -> None:
    authz = Authorizer(store)
    store.create(role("view-all", READ_PODS, namespace=None))
    store.create(
        binding(
            "mixed",
            "ClusterRole",
            "view-all",
            [
                {"kind": "User", "name": "alice"},
                {"kind": "ServiceAccount", "name": "reader", "namespace": "elsewhere"},
            ],
        )
    )
    # A RoleBinding to a ClusterRole grants its rules in the binding's namespace.
    assert authz.authorize(res("get", "pods", name="p", user=ALICE)).allowed
    assert not authz.authorize(res("get", "pods", name="p", namespace="other", user=ALICE)).allowed
    assert not authz.authorize(res("get", "pods", name="p")).allowed
    assert authz.authorize(
        res("get", "pods", name="p", user=service_account_user("elsewhere", "reader"))
    ).allowed
    store.create(
        binding(
            "all-sas",
            "ClusterRole",
            "view-all",
            [{"kind": "Group", "name": "system:serviceaccounts:team"}],
            namespace=None,
        )
    )
    decision = authz.authorize(res("list", "pods", namespace="other"))
    assert decision.allowed
    assert decision.reason == (
        'RBAC: allowed by ClusterRoleBinding "all-sas" of ClusterRole "view-all" '
        'to Group "system:serviceaccounts:team"'
    )
    # A ServiceAccount subject of a ClusterRoleBinding needs its namespace.
    store.create(
        binding("no-ns", "ClusterRole", "view-all", [{"kind": "ServiceAccount", "name": "x"}], namespace=None)
    )
    x = service_account_user("other", "x")
    assert not authz.authorize(res("list", "pods", namespace="other", user=x)).allowed


def test_a_missing_role_is_the_reason_of_the_denial(store: Store) -> None:
    authz = Authorizer(store)
    subject = [{"kind": "ServiceAccount", "name": "reader"}]
    store.create(binding("a", "Role", "gone", subject))
    store.create(binding("b", "ClusterRole", "gone-too", subject))
    decision = authz.authorize(res("list", "pods"))
    assert not decision.allowed
    assert decision.reason == (
        'RBAC: [role.rbac.authorization.k8s.io "gone" not found, '
        'clusterrole.rbac.authorization.k8s.io "gone-too" not found]'
    )
    assert forbidden_message(res("list", "pods"), decision.reason).endswith(
        'in the namespace "team": ' + decision.reason
    )
    assert aggregate(["x", "x"]) == "x"


def test_the_bootstrap_policy_lets_every_authenticated_user_discover(store: Store) -> None:
    authz = Authorizer(store)
    for path in ("/api", "/api/v1", "/apis", "/apis/apps/v1", "/openapi/v3", "/version", "/healthz"):
        assert authz.authorize(url("get", path)).allowed, path
    assert not authz.authorize(url("get", "/metrics")).allowed
    assert authz.authorize(
        res("create", "selfsubjectaccessreviews", namespace="", group="authorization.k8s.io")
    ).allowed
    # system:masters is allowed before RBAC is asked, with no reason (the privileged-group authorizer).
    assert authz.authorize(res("delete", "nodes", namespace="", name="n", user=ADMIN)).allowed


def test_forbidden_messages_as_kube_apiserver_words_them() -> None:
    assert forbidden_message(res("list", "pods")) == (
        'pods is forbidden: User "system:serviceaccount:team:reader" cannot list resource "pods" '
        'in API group "" in the namespace "team"'
    )
    assert forbidden_message(res("get", "deployments", group="apps", sub="scale", name="web")) == (
        'deployments.apps "web" is forbidden: User "system:serviceaccount:team:reader" cannot get resource '
        '"deployments/scale" in API group "apps" in the namespace "team"'
    )
    assert forbidden_message(res("list", "nodes", namespace="")) == (
        'nodes is forbidden: User "system:serviceaccount:team:reader" cannot list resource "nodes" '
        'in API group "" at the cluster scope'
    )
    assert forbidden_message(url("get", "/metrics")) == (
        'forbidden: User "system:serviceaccount:team:reader" cannot get path "/metrics"'
    )


def test_a_self_subject_access_review_asks_the_same_authorizer(store: Store) -> None:
    authz = Authorizer(store)
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"namespace": "team", "verb": "list", "resource": "pods"}},
    }
    assert access_review(authz, SA, review)["status"] == {"allowed": False}
    assert access_review(authz, ADMIN, review)["status"] == {"allowed": True}
    store.create(role("pod-reader", READ_PODS))
    store.create(binding("read-pods", "Role", "pod-reader", [{"kind": "ServiceAccount", "name": "reader"}]))
    answer = access_review(authz, SA, review)["status"]
    assert answer["allowed"] is True and answer["reason"].startswith(
        'RBAC: allowed by RoleBinding "read-pods/team"'
    )
    urls = {"spec": {"nonResourceAttributes": {"path": "/version", "verb": "get"}}}
    assert access_review(authz, SA, urls)["status"]["allowed"] is True
    with pytest.raises(ValueError, match="exactly one of"):
        access_review(authz, SA, {"spec": {}})


# --- requestinfo.go -------------------------------------------------------------------------------

TEAM = "/api/v1/namespaces/team"
INFO_CASES: list[tuple[str, str, dict[str, str], tuple[str, bool, str, str, str, str, str]]] = [
    ("GET", "/api/v1/namespaces/team/pods", {}, ("list", True, "team", "", "pods", "", "")),
    ("GET", "/api/v1/namespaces/team/pods", {"watch": "true"}, ("watch", True, "team", "", "pods", "", "")),
    ("GET", "/api/v1/namespaces/team/pods", {"fieldSelector": "metadata.name=web"},
     ("list", True, "team", "", "pods", "", "web")),
    ("GET", "/api/v1/namespaces/team/pods/web", {}, ("get", True, "team", "", "pods", "", "web")),
    ("GET", "/api/v1/namespaces/team/pods/web/log", {}, ("get", True, "team", "", "pods", "log", "web")),
    ("POST", f"{TEAM}/pods/web/eviction", {}, ("create", True, "team", "", "pods", "eviction", "web")),
    ("GET", f"{TEAM}/pods/web/proxy/a/b", {}, ("get", True, "team", "", "pods", "proxy", "web")),
    ("DELETE", "/apis/apps/v1/namespaces/team/deployments", {},
     ("deletecollection", True, "team", "apps", "deployments", "", "")),
    ("PATCH", "/apis/apps/v1/namespaces/team/deployments/web/scale", {},
     ("patch", True, "team", "apps", "deployments", "scale", "web")),
    ("PUT", "/api/v1/nodes/n1/status", {}, ("update", True, "", "", "nodes", "status", "n1")),
    ("GET", "/api/v1/namespaces/team", {}, ("get", True, "team", "", "namespaces", "", "team")),
    ("PUT", f"{TEAM}/finalize", {}, ("update", True, "team", "", "namespaces", "finalize", "team")),
    ("GET", "/api/v1/pods", {}, ("list", True, "", "", "pods", "", "")),
    ("GET", "/api/v1/watch/namespaces/team/pods", {}, ("watch", True, "team", "", "pods", "", "")),
    ("GET", "/api/v1", {}, ("get", False, "", "", "", "", "")),
    ("GET", "/apis/apps/v1", {}, ("get", False, "", "", "", "", "")),
    ("POST", "/version", {}, ("post", False, "", "", "", "", "")),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "query", "want"), INFO_CASES)
def test_request_attributes(
    method: str, path: str, query: dict[str, str], want: tuple[str, bool, str, str, str, str, str]
) -> None:
    a = request_attributes(SA, method, path, query)
    assert (a.verb, a.resource_request, a.namespace, a.api_group, a.resource, a.subresource, a.name) == want
    if not a.resource_request:
        assert a.path == path


def test_rules_review_and_self_review(store: Store) -> None:
    authz = Authorizer(store)
    store.create(role("pod-reader", READ_PODS))
    store.create(binding("read-pods", "Role", "pod-reader", [{"kind": "ServiceAccount", "name": "reader"}]))
    store.create(binding("broken", "Role", "gone", [{"kind": "ServiceAccount", "name": "reader"}]))
    review = {"kind": "SelfSubjectRulesReview", "spec": {"namespace": "team"}}
    status = answer(authz, SA, review)["status"]
    assert {"verbs": ["get", "list", "watch"], "apiGroups": [""], "resources": ["pods"]} in status[
        "resourceRules"
    ]
    # system:basic-user's and system:discovery's rules, bound to every authenticated user.
    assert {
        "verbs": ["create"],
        "apiGroups": ["authorization.k8s.io"],
        "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
    } in status["resourceRules"]
    assert any("/apis/*" in r["nonResourceURLs"] for r in status["nonResourceRules"])
    assert status["incomplete"] is False
    assert status["evaluationError"] == 'role.rbac.authorization.k8s.io "gone" not found'
    admin = answer(authz, ADMIN, review)["status"]
    assert admin["resourceRules"][0] == {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}
    who = answer(authz, SA, {"kind": "SelfSubjectReview"})["status"]["userInfo"]
    assert who == {
        "username": "system:serviceaccount:team:reader",
        "groups": ["system:serviceaccounts", "system:serviceaccounts:team", "system:authenticated"],
    }


def test_admin_edit_and_view_gather_their_aggregated_roles(store: Store) -> None:
    plane = ControlPlane(store)
    view = store.get("ClusterRole", "", "view")
    assert view is not None
    view_rules = view.to_json()["rules"]
    assert {
        "apiGroups": ["discovery.k8s.io"],
        "resources": ["endpointslices"],
        "verbs": ["get", "list", "watch"],
    } in view_rules
    edit = store.get("ClusterRole", "", "edit")
    admin = store.get("ClusterRole", "", "admin")
    assert edit is not None and admin is not None
    # edit gathers view (labelled aggregate-to-edit) and admin gathers edit, each rule once.
    assert all(rule in edit.to_json()["rules"] for rule in view_rules)
    assert all(rule in admin.to_json()["rules"] for rule in edit.to_json()["rules"])
    authz = Authorizer(store)
    store.create(binding("viewers", "ClusterRole", "view", [{"kind": "ServiceAccount", "name": "reader"}]))
    assert authz.authorize(res("get", "pods", sub="log", name="web")).allowed
    assert not authz.authorize(res("get", "secrets", name="s")).allowed
    # A chart's own role labelled aggregate-to-view widens view (and so edit and admin).
    crd_reader = role(
        "widgets-reader",
        [{"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["get"]}],
        namespace=None,
    )
    crd_reader.metadata.labels = {"rbac.authorization.k8s.io/aggregate-to-view": "true"}
    store.create(crd_reader)
    plane.aggregate()
    assert authz.authorize(res("get", "widgets", group="example.com", name="w")).allowed
    admin = store.get("ClusterRole", "", "admin")
    assert (
        admin is not None
        and {"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["get"]}
        in admin.to_json()["rules"]
    )


def test_token_review_errors_only_for_tokens_of_this_issuer(store: Store) -> None:
    from hitless.apiserver.reviews import token_review
    from hitless.apiserver.serviceaccount import ServiceAccountTokens

    ControlPlane(store).ensure_all_namespaces()  # the default ServiceAccounts
    tokens = ServiceAccountTokens(store, FakeClock())
    review = {"kind": "TokenReview", "spec": {"token": "not-a-jwt"}}
    assert token_review(tokens.authenticate, review)["status"] == {"authenticated": False}
    other_key = ServiceAccountTokens(store, FakeClock()).request("default", "default", [], 3600)
    status = token_review(tokens.authenticate, {"kind": "TokenReview", "spec": {"token": other_key}})[
        "status"
    ]
    assert status == {"authenticated": False, "error": "invalid signature"}
