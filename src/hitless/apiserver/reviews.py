"""The reviews a client asks about itself: answered for the requesting user, never stored.

- SelfSubjectAccessReview (pkg/registry/authorization/selfsubjectaccessreview/rest.go, `kubectl
  auth can-i`): the review's attributes (authorizationutil.ResourceAttributesFrom /
  NonResourceAttributesFrom) decided by the same authorizer as the user's requests;
- SelfSubjectRulesReview (selfsubjectrulesreview/rest.go, `kubectl auth can-i --list`): the rules
  the authorizer knows for the user in a namespace (the privileged group's ``*`` for
  system:masters, else RBAC's RulesFor, its resolution errors as ``evaluationError``);
- SelfSubjectReview (pkg/registry/authentication/selfsubjectreview/rest.go, `kubectl auth
  whoami`): the user's name, UID, groups and extra.
"""

from __future__ import annotations

from typing import Any

from hitless.apiserver.rbac import Attributes, Authorizer, aggregate
from hitless.apiserver.serviceaccount import UserInfo

Json = dict[str, Any]
KINDS = ("SelfSubjectAccessReview", "SelfSubjectRulesReview", "SelfSubjectReview")


def answer(authorizer: Authorizer, user: UserInfo, review: Json) -> Json:
    kind = review.get("kind")
    if kind == "SelfSubjectRulesReview":
        return rules_review(authorizer, user, review)
    if kind == "SelfSubjectReview":
        return self_review(user, review)
    return access_review(authorizer, user, review)


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
    out = dict(review)
    out.setdefault("metadata", {})
    out["status"] = result
    return out


def rules_review(authorizer: Authorizer, user: UserInfo, review: Json) -> Json:
    namespace = str((review.get("spec") or {}).get("namespace") or "")
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
    status: Json = {
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource_rules,
        "incomplete": False,
    }
    if error:
        status["evaluationError"] = error
    out = dict(review)
    out.setdefault("metadata", {})
    out["status"] = status
    return out


def self_review(user: UserInfo, review: Json) -> Json:
    info: Json = {"username": user.name, "groups": list(user.groups)}
    if user.uid:
        info["uid"] = user.uid
    if user.extra:
        info["extra"] = {k: list(v) for k, v in user.extra.items()}
    out = dict(review)
    out.setdefault("metadata", {})
    out["status"] = {"userInfo": info}
    return out
