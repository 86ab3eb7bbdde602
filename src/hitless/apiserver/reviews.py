"""The reviews a client asks about itself: answered for the requesting user, never stored.

- SelfSubjectAccessReview (pkg/registry/authorization/selfsubjectaccessreview/rest.go, `kubectl
  auth can-i`): the review's attributes (authorizationutil.ResourceAttributesFrom /
  NonResourceAttributesFrom) decided by the same authorizer as the user's requests;
- SelfSubjectRulesReview (selfsubjectrulesreview/rest.go, `kubectl auth can-i --list`): the rules
  the authorizer knows for the user in a namespace (the privileged group's ``*`` for
  system:masters, else RBAC's RulesFor, its resolution errors as ``evaluationError``);
- SelfSubjectReview (pkg/registry/authentication/selfsubjectreview/rest.go, `kubectl auth
  whoami`): the user's name, UID, groups and extra;
- and for the delegated checks of a component that serves its own endpoints (kube-rbac-proxy,
  metrics servers, webhooks; the ``system:auth-delegator`` role): TokenReview
  (pkg/registry/authentication/tokenreview/storage.go: who a token is, by this server's
  authenticators, with the audiences it was checked against), SubjectAccessReview and
  LocalSubjectAccessReview (pkg/registry/authorization/{subjectaccessreview,
  localsubjectaccessreview}/rest.go: the spec's user, groups and attributes, the local one in its
  namespace).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hitless.apiserver import status
from hitless.apiserver.rbac import Attributes, Authorizer, aggregate
from hitless.apiserver.serviceaccount import API_AUDIENCES, TokenError, UserInfo

if TYPE_CHECKING:
    from hitless.apiserver.kinds import Resource
    from hitless.apiserver.rest import Rest

Json = dict[str, Any]
KINDS = (
    "SelfSubjectAccessReview",
    "SelfSubjectRulesReview",
    "SelfSubjectReview",
    "TokenReview",
    "SubjectAccessReview",
    "LocalSubjectAccessReview",
)
# A token authenticator: the user, or TokenError.
TokenAuthenticator = Callable[[str, list[str]], UserInfo]


def create(rest: Rest, r: Resource, body: Any, user: UserInfo, namespace: str) -> Json:
    """The review the request's body asks, answered (the REST handler's create)."""
    if not isinstance(body, dict):
        raise status.bad_request(f"the body of the request must be a {r.kind}")
    body.setdefault("apiVersion", r.group_version)
    body.setdefault("kind", r.kind)
    try:
        return answer(rest.authorizer, user, body, rest.authenticate_token, namespace)
    except ValueError as exc:
        raise status.invalid_message(r.group, r.kind, "", f"spec.resourceAttributes: {exc}") from exc


def answer(
    authorizer: Authorizer,
    user: UserInfo,
    review: Json,
    authenticate: TokenAuthenticator | None = None,
    namespace: str = "",
) -> Json:
    kind = review.get("kind")
    if kind == "SelfSubjectRulesReview":
        return rules_review(authorizer, user, review)
    if kind == "SelfSubjectReview":
        return self_review(user, review)
    if kind == "TokenReview":
        return token_review(authenticate, review)
    if kind in ("SubjectAccessReview", "LocalSubjectAccessReview"):
        return subject_access_review(
            authorizer, review, namespace if kind == "LocalSubjectAccessReview" else None
        )
    return access_review(authorizer, user, review)


def token_review(authenticate: TokenAuthenticator | None, review: Json) -> Json:
    spec = review.get("spec") or {}
    audiences = list(spec.get("audiences") or API_AUDIENCES)
    result: Json = {"authenticated": False}
    try:
        if authenticate is None:
            raise TokenError("no token authenticator")
        user = authenticate(str(spec.get("token") or ""), audiences)
    except TokenError as exc:
        if exc.ours:
            result["error"] = str(exc)
    else:
        result = {"authenticated": True, "user": _user_info(user), "audiences": audiences}
    return _answered(review, result)


def subject_access_review(authorizer: Authorizer, review: Json, namespace: str | None) -> Json:
    """The spec's subject, as is (no group is added to it), asked of the authorizer."""
    spec = review.get("spec") or {}
    extra = {k: tuple(v or []) for k, v in (spec.get("extra") or {}).items()}
    subject = UserInfo(
        str(spec.get("user") or ""), tuple(spec.get("groups") or []), str(spec.get("uid") or ""), extra
    )
    if namespace is not None:
        resource = spec.get("resourceAttributes")
        if isinstance(resource, dict):
            if resource.get("namespace") and resource["namespace"] != namespace:
                raise status.bad_request(
                    f"spec.resourceAttributes.namespace must match namespace: {namespace}"
                )
            resource["namespace"] = namespace
    return access_review(authorizer, subject, review)


def access_review(authorizer: Authorizer, user: UserInfo, review: Json) -> Json:
    """pkg/registry/authorization/selfsubjectaccessreview/rest.go: the review's attributes
    (authorizationutil.ResourceAttributesFrom / NonResourceAttributesFrom) for the requesting
    user, answered by the same authorizer as the user's requests."""
    spec = review.get("spec") or {}
    resource = spec.get("resourceAttributes")
    non_resource = spec.get("nonResourceAttributes")
    if isinstance(resource, dict):
        attrs = Attributes(
            user,
            str(resource.get("verb") or ""),
            True,
            str(resource.get("namespace") or ""),
            str(resource.get("group") or ""),
            str(resource.get("version") or ""),
            str(resource.get("resource") or ""),
            str(resource.get("subresource") or ""),
            str(resource.get("name") or ""),
        )
    elif isinstance(non_resource, dict):
        attrs = Attributes(
            user, str(non_resource.get("verb") or ""), False, path=str(non_resource.get("path") or "")
        )
    else:
        raise ValueError("exactly one of nonResourceAttributes or resourceAttributes must be specified")
    decision = authorizer.authorize(attrs)
    result: Json = {"allowed": decision.allowed}
    if decision.reason:
        result["reason"] = decision.reason
    return _answered(review, result)


def rules_review(authorizer: Authorizer, user: UserInfo, review: Json) -> Json:
    namespace = str((review.get("spec") or {}).get("namespace") or "")
    if not namespace:
        # selfsubjectrulesreview/rest.go: the rules are always a namespace's.
        raise status.bad_request("no namespace on request")
    resource_rules: list[Json] = []
    non_resource_rules: list[Json] = []
    error = ""
    if user.privileged:
        resource_rules.append({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]})
        non_resource_rules.append({"verbs": ["*"], "nonResourceURLs": ["*"]})
    rules, errors = authorizer.resolver.rules_for(user, namespace)
    for rule in rules:
        if rule.get("resources"):
            resource_rules.append(
                {
                    k: rule[k]
                    for k in ("verbs", "apiGroups", "resources", "resourceNames")
                    if rule.get(k) is not None
                }
            )
        if rule.get("nonResourceURLs"):
            non_resource_rules.append(
                {"verbs": rule.get("verbs") or [], "nonResourceURLs": rule["nonResourceURLs"]}
            )
    if errors:
        error = aggregate(errors)
    result: Json = {
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource_rules,
        "incomplete": False,
    }
    if error:
        result["evaluationError"] = error
    return _answered(review, result)


def _user_info(user: UserInfo) -> Json:
    info: Json = {"username": user.name, "groups": list(user.groups)}
    if user.uid:
        info["uid"] = user.uid
    if user.extra:
        info["extra"] = {k: list(v) for k, v in user.extra.items()}
    return info


def _answered(review: Json, result: Json) -> Json:
    out = dict(review)
    out.setdefault("metadata", {})
    out["status"] = result
    return out


def self_review(user: UserInfo, review: Json) -> Json:
    return _answered(review, {"userInfo": _user_info(user)})
