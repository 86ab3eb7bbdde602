"""The RBAC authorizer over the store's Roles, RoleBindings, ClusterRoles and ClusterRoleBindings.

Ported from plugin/pkg/auth/authorizer/rbac/rbac.go (Authorize, RuleAllows), pkg/apis/rbac/v1/
evaluation_helpers.go (VerbMatches, APIGroupMatches, ResourceMatches, ResourceNameMatches,
NonResourceURLMatches) and pkg/registry/rbac/validation/rule.go (DefaultRuleResolver
VisitRulesFor, GetRoleReferenceRules, appliesTo, the binding describers of the "allowed by"
reason). The authorizer chain in front of it is kube-apiserver's: the system:masters group is
always allowed (authorizerfactory.NewPrivilegedGroups), everything else is RBAC's, and what RBAC
has no opinion on is denied.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from hitless.apiserver.serviceaccount import SERVICE_ACCOUNT_PREFIX, UserInfo
from hitless.store.store import Store

Json = dict[str, Any]
GROUP = "rbac.authorization.k8s.io"


@dataclass(frozen=True)
class Attributes:
    """authorizer.Attributes of one request (or of a SubjectAccessReview)."""

    user: UserInfo
    verb: str
    resource_request: bool
    namespace: str = ""
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    path: str = ""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


# --- evaluation_helpers.go ---------------------------------------------------------------------


def verb_matches(rule: Json, verb: str) -> bool:
    return any(v == "*" or v == verb for v in rule.get("verbs") or [])


def api_group_matches(rule: Json, group: str) -> bool:
    return any(g == "*" or g == group for g in rule.get("apiGroups") or [])


def resource_matches(rule: Json, combined: str, subresource: str) -> bool:
    for r in rule.get("resources") or []:
        if r == "*" or r == combined:
            return True
        # A rule "*/status" matches the subresource of every resource.
        if subresource and len(r) == len(subresource) + 2 and r.startswith("*/") and r.endswith(subresource):
            return True
    return False


def resource_name_matches(rule: Json, name: str) -> bool:
    names = rule.get("resourceNames") or []
    return not names or name in names


def non_resource_url_matches(rule: Json, url: str) -> bool:
    for u in rule.get("nonResourceURLs") or []:
        if u == "*" or u == url:
            return True
        if u.endswith("*") and url.startswith(u.rstrip("*")):
            return True
    return False


def rule_allows(attrs: Attributes, rule: Json) -> bool:
    """rbac.go RuleAllows."""
    if attrs.resource_request:
        combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
        return (
            verb_matches(rule, attrs.verb)
            and api_group_matches(rule, attrs.api_group)
            and resource_matches(rule, combined, attrs.subresource)
            and resource_name_matches(rule, attrs.name)
        )
    return verb_matches(rule, attrs.verb) and non_resource_url_matches(rule, attrs.path)


# --- rule.go ------------------------------------------------------------------------------------


def applies_to_user(user: UserInfo, subject: Json, namespace: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name") or ""
    if kind == "User":
        return user.name == name
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        # A subject without a namespace is the binding's namespace's service account.
        sa_namespace = subject.get("namespace") or namespace
        if not sa_namespace:
            return False
        return user.name == f"{SERVICE_ACCOUNT_PREFIX}{sa_namespace}:{name}"
    return False


def applies_to(user: UserInfo, subjects: list[Json], namespace: str) -> Json | None:
    """The first subject of the binding that is the user, or None."""
    for subject in subjects:
        if applies_to_user(user, subject, namespace):
            return subject
    return None


def describe_subject(subject: Json, binding_namespace: str) -> str:
    kind, name = subject.get("kind", ""), subject.get("name", "")
    if kind == "ServiceAccount":
        return f'{kind} "{name}/{subject.get("namespace") or binding_namespace}"'
    return f'{kind} "{name}"'


def _not_found(resource: str, name: str) -> str:
    # The listers' apierrors.NewNotFound(rbac.Resource("role"), name).
    return f'{resource}.{GROUP} "{name}" not found'


def aggregate(errors: list[str]) -> str:
    """utilerrors.NewAggregate(errs).Error(): duplicates once, several in brackets."""
    seen: list[str] = []
    for e in errors:
        if e not in seen:
            seen.append(e)
    return seen[0] if len(seen) == 1 else "[" + ", ".join(seen) + "]"


# A visitor gets (source, rule, error) and returns whether to go on.
Visitor = Callable[[str, Json | None, str | None], bool]


class RuleResolver:
    """DefaultRuleResolver over the store (the informers' listers of kube-apiserver)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        # Each object's JSON, by identity and resourceVersion: a request reads every binding.
        self._json: dict[tuple[str, str, str], tuple[str, Json]] = {}

    def _data(self, kind: str, namespace: str | None) -> Iterator[Json]:
        for obj in self.store.objects(kind, namespace):
            key = obj.key
            rv = obj.metadata.resource_version or ""
            cached = self._json.get(key)
            if cached is None or cached[0] != rv:
                cached = (rv, obj.to_json())
                self._json[key] = cached
            yield cached[1]

    def _get(self, kind: str, namespace: str, name: str) -> Json | None:
        return next((d for d in self._data(kind, namespace) if d["metadata"].get("name") == name), None)

    def role_reference_rules(self, role_ref: Json, namespace: str) -> tuple[list[Json], str | None]:
        """GetRoleReferenceRules."""
        kind, name = role_ref.get("kind"), role_ref.get("name") or ""
        if kind == "Role":
            role = self._get("Role", namespace, name)
            return ([], _not_found("role", name)) if role is None else (role.get("rules") or [], None)
        if kind == "ClusterRole":
            role = self._get("ClusterRole", "", name)
            return ([], _not_found("clusterrole", name)) if role is None else (role.get("rules") or [], None)
        return [], f'unsupported role reference kind: "{kind}"'

    def visit_rules_for(self, user: UserInfo, namespace: str, visitor: Visitor) -> None:
        for binding in self._data("ClusterRoleBinding", ""):
            subject = applies_to(user, binding.get("subjects") or [], "")
            if subject is None:
                continue
            ref = binding.get("roleRef") or {}
            rules, err = self.role_reference_rules(ref, "")
            if err is not None:
                if not visitor("", None, err):
                    return
                continue
            source = (
                f'ClusterRoleBinding "{binding["metadata"].get("name")}" of {ref.get("kind")} '
                f'"{ref.get("name")}" to {describe_subject(subject, "")}'
            )
            for rule in rules:
                if not visitor(source, rule, None):
                    return
        if not namespace:
            return
        for binding in self._data("RoleBinding", namespace):
            subject = applies_to(user, binding.get("subjects") or [], namespace)
            if subject is None:
                continue
            ref = binding.get("roleRef") or {}
            rules, err = self.role_reference_rules(ref, namespace)
            if err is not None:
                if not visitor("", None, err):
                    return
                continue
            source = (
                f'RoleBinding "{binding["metadata"].get("name")}/{namespace}" of {ref.get("kind")} '
                f'"{ref.get("name")}" to {describe_subject(subject, namespace)}'
            )
            for rule in rules:
                if not visitor(source, rule, None):
                    return

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[Json], list[str]]:
        rules: list[Json] = []
        errors: list[str] = []

        def visit(source: str, rule: Json | None, err: str | None) -> bool:
            if rule is not None:
                rules.append(rule)
            if err is not None:
                errors.append(err)
            return True

        self.visit_rules_for(user, namespace, visit)
        return rules, errors


class Authorizer:
    """kube-apiserver's chain for this server: system:masters, then RBAC; no opinion is a denial."""

    def __init__(self, store: Store) -> None:
        self.resolver = RuleResolver(store)

    def authorize(self, attrs: Attributes) -> Decision:
        if attrs.user.privileged:
            return Decision(True)
        allowed = ""
        errors: list[str] = []

        def visit(source: str, rule: Json | None, err: str | None) -> bool:
            nonlocal allowed
            if rule is not None and rule_allows(attrs, rule):
                allowed = f"RBAC: allowed by {source}"
                return False
            if err is not None:
                errors.append(err)
            return True

        self.resolver.visit_rules_for(attrs.user, attrs.namespace, visit)
        if allowed:
            return Decision(True, allowed)
        return Decision(False, f"RBAC: {aggregate(errors)}" if errors else "")


def forbidden_message(attrs: Attributes, reason: str = "") -> str:
    """responsewriters/errors.go forbiddenMessage (and Forbidden's ": reason"), inside
    apierrors.NewForbidden's ``<resource> "<name>" is forbidden: ...``."""
    user = attrs.user.name
    if not attrs.resource_request:
        msg = f'User "{user}" cannot {attrs.verb} path "{attrs.path}"'
    else:
        resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
        where = f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope"
        group = attrs.api_group
        msg = f'User "{user}" cannot {attrs.verb} resource "{resource}" in API group "{group}" {where}'
    if reason:
        msg = f"{msg}: {reason}"
    qualified = f"{attrs.resource}.{attrs.api_group}" if attrs.api_group else attrs.resource
    if not attrs.resource_request:
        # NewForbidden with an empty GroupResource: `forbidden: User ...`.
        return f"forbidden: {msg}"
    if attrs.name:
        return f'{qualified} "{attrs.name}" is forbidden: {msg}'
    return f"{qualified} is forbidden: {msg}"
