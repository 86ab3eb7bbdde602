"""RBAC's escalation prevention: nobody grants through a Role or a binding more than they hold.

pkg/registry/rbac/{role,clusterrole,rolebinding,clusterrolebinding}/policybased/storage.go: a
write of a Role or ClusterRole passes when the user is in system:masters (EscalationAllowed), may
``escalate`` that resource (RoleEscalationAuthorized) or already holds every rule it contains; a
write of a binding passes when the user is in system:masters, may ``bind`` the referenced role
(BindingAuthorized) or already holds every rule of that role. What the user holds is RBAC's rules
for them in the object's namespace (cluster-wide for the cluster-scoped kinds):
pkg/registry/rbac/validation/rule.go ConfirmNoEscalation, with Covers from
staging/src/k8s.io/component-helpers/auth/rbac/validation/policy_comparator.go and the message's
rules compacted as policy_compact.go CompactRules and printed as evaluation_helpers.go
CompactString. A refusal is 403 Forbidden on the object.
"""

from __future__ import annotations

import json
from typing import Any

from hitless.apiserver import status
from hitless.apiserver.rbac import GROUP, Attributes, Authorizer, aggregate
from hitless.apiserver.serviceaccount import UserInfo

Json = dict[str, Any]
RBAC_KINDS = {
    "Role": "roles",
    "ClusterRole": "clusterroles",
    "RoleBinding": "rolebindings",
    "ClusterRoleBinding": "clusterrolebindings",
}


# bootstrappolicy's fullAuthority: what cluster-admin holds.
FULL_AUTHORITY: list[Json] = [
    {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
    {"verbs": ["*"], "nonResourceURLs": ["*"]},
]


def _breakdown(rule: Json) -> list[Json]:
    """breakdownRule: one verb, one group, one resource and at most one name per rule."""
    out: list[Json] = []
    verbs = rule.get("verbs") or []
    for group in rule.get("apiGroups") or []:
        for resource in rule.get("resources") or []:
            for verb in verbs:
                names = rule.get("resourceNames") or []
                base = {"apiGroups": [group], "resources": [resource], "verbs": [verb]}
                out.extend([{**base, "resourceNames": [n]} for n in names] if names else [base])
    for url in rule.get("nonResourceURLs") or []:
        for verb in verbs:
            out.append({"nonResourceURLs": [url], "verbs": [verb]})
    return out


def _has_all(owned: list[str], wanted: list[str]) -> bool:
    return set(wanted) <= set(owned)


def _resources_cover_all(owned: list[str], wanted: list[str]) -> bool:
    if "*" in owned or _has_all(owned, wanted):
        return True
    for path in wanted:
        if path in owned:
            continue
        if "/" not in path or "*/" + path.split("/", 1)[1] not in owned:
            return False
    return True


def _url_covers(owner: str, path: str) -> bool:
    return owner == path or (owner.endswith("*") and path.startswith(owner.rstrip("*")))


def _rule_covers(owner: Json, sub: Json) -> bool:
    owner_verbs, owner_groups = owner.get("verbs") or [], owner.get("apiGroups") or []
    owner_names, owner_urls = owner.get("resourceNames") or [], owner.get("nonResourceURLs") or []
    sub_names = sub.get("resourceNames") or []
    return (
        ("*" in owner_verbs or _has_all(owner_verbs, sub.get("verbs") or []))
        and ("*" in owner_groups or _has_all(owner_groups, sub.get("apiGroups") or []))
        and _resources_cover_all(owner.get("resources") or [], sub.get("resources") or [])
        and all(any(_url_covers(o, u) for o in owner_urls) for u in sub.get("nonResourceURLs") or [])
        and (not owner_names if not sub_names else (not owner_names or _has_all(owner_names, sub_names)))
    )


def covers(owner_rules: list[Json], servant_rules: list[Json]) -> tuple[bool, list[Json]]:
    """Covers: whether the owner's rules cover the servant's, and the atomic rules they do not."""
    missing = [
        sub
        for rule in servant_rules
        for sub in _breakdown(rule)
        if not any(_rule_covers(owner, sub) for owner in owner_rules)
    ]
    return not missing, missing


def compact_rules(rules: list[Json]) -> list[Json]:
    """CompactRules: rules of one group and one resource (and at most one name) differing only by
    verb become one."""
    compacted: list[Json] = []
    simple: dict[tuple[str, str, str | None], Json] = {}
    for rule in rules:
        groups, resources = rule.get("apiGroups") or [], rule.get("resources") or []
        names = rule.get("resourceNames") or []
        if len(names) > 1 or rule.get("nonResourceURLs") or len(groups) != 1 or len(resources) != 1:
            compacted.append(rule)
            continue
        key = (groups[0], resources[0], names[0] if names else None)
        existing = simple.get(key)
        if existing is None:
            simple[key] = {**rule, "verbs": list(rule.get("verbs") or [])}
        else:
            existing["verbs"] += [v for v in rule.get("verbs") or [] if v not in existing["verbs"]]
    return compacted + list(simple.values())


def _go_strings(values: list[str]) -> str:
    """Go's %q of a []string: ``["a" "b"]``."""
    return "[" + " ".join(json.dumps(v) for v in values) + "]"


def compact_string(rule: Json) -> str:
    parts = [
        f"{label}:{_go_strings(rule[key])}"
        for label, key in (
            ("APIGroups", "apiGroups"),
            ("Resources", "resources"),
            ("NonResourceURLs", "nonResourceURLs"),
            ("ResourceNames", "resourceNames"),
            ("Verbs", "verbs"),
        )
        if rule.get(key)
    ]
    return "{" + ", ".join(parts) + "}"


def confirm_no_escalation(
    authorizer: Authorizer, user: UserInfo, namespace: str, rules: list[Json]
) -> str | None:
    """ConfirmNoEscalation: None, or why the user may not grant ``rules``."""
    owner_rules, errors = authorizer.resolver.rules_for(user, namespace)
    ok, missing = covers(owner_rules, rules)
    if ok:
        return None
    descriptions = sorted({compact_string(r) for r in compact_rules(missing)})
    msg = (
        f'user "{user.name}" (groups={_go_strings(list(user.groups))}) is attempting to grant RBAC '
        "permissions not currently held:\n" + "\n".join(descriptions)
    )
    if errors:
        msg += f"; resolution errors: [{aggregate(errors)}]"
    return msg


def check(authorizer: Authorizer, user: UserInfo, kind: str, data: Json) -> None:
    """Refuse (403) a write of an RBAC object that would grant the user more than they hold."""
    plural = RBAC_KINDS.get(kind)
    if plural is None or user.privileged:
        return
    meta = data.get("metadata") or {}
    name = str(meta.get("name") or "")
    namespace = str(meta.get("namespace") or "") if kind in ("Role", "RoleBinding") else ""
    if kind in ("Role", "ClusterRole"):
        old = authorizer.resolver.store.get(kind, namespace, name) if name else None
        # RoleEscalationAuthorized asks about the request's name: none for a create (POST to the
        # collection), so `escalate` limited by resourceNames covers only updates. (A server-side
        # apply that creates is asked without the name too, where upstream takes its path's.)
        escalate_name = name if old is not None else ""
        escalate = Attributes(user, "escalate", True, namespace, GROUP, "v1", plural, "", escalate_name)
        if authorizer.authorize(escalate).allowed:
            return
        rules = data.get("rules") or []
        reason = confirm_no_escalation(authorizer, user, namespace, rules)
        # clusterrole/policybased/storage.go: an aggregated role gathers anything, so writing one,
        # or changing one that was (hasAggregationRule of the old object too), takes holding
        # everything.
        was_aggregated = old is not None and bool(old.to_json().get("aggregationRule"))
        aggregated = kind == "ClusterRole" and (bool(data.get("aggregationRule")) or was_aggregated)
        if reason is None and aggregated and confirm_no_escalation(authorizer, user, "", FULL_AUTHORITY):
            reason = "must have cluster-admin privileges to use the aggregationRule"
        if reason is not None:
            raise status.forbidden(_attrs(user, plural, name, namespace), _forbidden(plural, name, reason))
        return
    ref = data.get("roleRef") or {}
    ref_kind, ref_name = str(ref.get("kind") or ""), str(ref.get("name") or "")
    role_plural = {"ClusterRole": "clusterroles", "Role": "roles"}.get(ref_kind)
    if role_plural is not None:
        group = str(ref.get("apiGroup") or "")
        bind = Attributes(user, "bind", True, namespace, group, "", role_plural, "", ref_name)
        if authorizer.authorize(bind).allowed:
            return
    rules, err = authorizer.resolver.role_reference_rules(ref, namespace)
    if err is not None:
        # GetRoleReferenceRules's error as it is (the lister's NotFound).
        details = {"name": ref_name, "group": GROUP, "kind": ref_kind.lower()}
        found = "not found" in err
        raise status.ApiError(404 if found else 500, "NotFound" if found else "InternalError", err, details)
    reason = confirm_no_escalation(authorizer, user, namespace, rules)
    if reason is not None:
        raise status.forbidden(_attrs(user, plural, name, namespace), _forbidden(plural, name, reason))


def _attrs(user: UserInfo, plural: str, name: str, namespace: str) -> Attributes:
    return Attributes(user, "create", True, namespace, GROUP, "v1", plural, "", name)


def _forbidden(plural: str, name: str, reason: str) -> str:
    return f'{plural}.{GROUP} "{name}" is forbidden: {reason}'
