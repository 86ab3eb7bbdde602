"""User impersonation (``kubectl --as``, ``--as-group``, ``--as-uid``): acting as another user.

staging/src/k8s.io/apiserver/pkg/endpoints/filters/impersonation.go (WithImpersonation,
buildImpersonationRequests): ``Impersonate-User`` (a ``system:serviceaccount:NS:NAME`` name is
that ServiceAccount), ``Impersonate-Group`` (repeated), ``Impersonate-Uid`` and
``Impersonate-Extra-KEY``. The requester must be allowed ``impersonate`` on each of them (users,
serviceaccounts in their namespace, groups, uids, userextras/KEY); the first one refused is the
request's 403. The impersonated user is in the groups given, else a ServiceAccount's own groups,
plus ``system:authenticated`` unless the groups name it or ``system:unauthenticated``. What the
impersonated user may do is then decided as for any request.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from multidict import CIMultiDict, CIMultiDictProxy

from hitless.apiserver import status
from hitless.apiserver.rbac import Attributes, Authorizer, forbidden_message
from hitless.apiserver.serviceaccount import (
    ALL_SERVICE_ACCOUNTS,
    AUTHENTICATED,
    SERVICE_ACCOUNT_PREFIX,
    UserInfo,
)

USER_HEADER = "Impersonate-User"
GROUP_HEADER = "Impersonate-Group"
UID_HEADER = "Impersonate-Uid"
EXTRA_PREFIX = "Impersonate-Extra-"
UNAUTHENTICATED = "system:unauthenticated"
ANONYMOUS = "system:anonymous"


_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def split_service_account(username: str) -> tuple[str, str] | None:
    """serviceaccount.SplitUsername: NS and NAME of ``system:serviceaccount:NS:NAME`` when both are
    valid names; anything else is a plain user, whose impersonation asks for ``users``."""
    if not username.startswith(SERVICE_ACCOUNT_PREFIX):
        return None
    parts = username[len(SERVICE_ACCOUNT_PREFIX) :].split(":")
    if len(parts) != 2:
        return None
    namespace, name = parts
    if len(namespace) > 63 or not _LABEL.fullmatch(namespace):
        return None
    if len(name) > 253 or not _SUBDOMAIN.fullmatch(name):
        return None
    return namespace, name


def impersonated(
    authorizer: Authorizer, requester: UserInfo, headers: CIMultiDictProxy[str] | CIMultiDict[str]
) -> UserInfo | None:
    """The user the request acts as, None when it impersonates no one; a 403 (or 400) ApiError
    when it may not."""
    user_names = headers.getall(USER_HEADER, [])
    groups_asked = headers.getall(GROUP_HEADER, [])
    uids = headers.getall(UID_HEADER, [])
    extras: dict[str, list[str]] = {}
    for key in set(headers.keys()):
        if key.lower().startswith(EXTRA_PREFIX.lower()):
            extra_key = unquote(key[len(EXTRA_PREFIX) :]).lower()
            extras.setdefault(extra_key, []).extend(headers.getall(key, []))
    if not (user_names or groups_asked or uids or extras):
        return None
    if not user_names:
        asked = (
            [f"Group={g}" for g in groups_asked]
            + [f"UID={u}" for u in uids]
            + [f"UserExtra={k}" for k in extras]
        )
        raise status.bad_request(f"requested {asked} without impersonating a user")
    username = user_names[0]
    groups: list[str] = []
    checks: list[Attributes] = []

    def may(namespace: str, group: str, resource: str, sub: str, name: str) -> None:
        checks.append(Attributes(requester, "impersonate", True, namespace, group, "v1", resource, sub, name))

    service_account = split_service_account(username)
    if service_account is not None:
        namespace, name = service_account
        checks.append(
            Attributes(requester, "impersonate", True, namespace, "", "v1", "serviceaccounts", "", name)
        )
        if not groups_asked:
            groups = [ALL_SERVICE_ACCOUNTS, f"{ALL_SERVICE_ACCOUNTS}:{namespace}"]
    else:
        may("", "", "users", "", username)
    for group in groups_asked:
        may("", "", "groups", "", group)
        groups.append(group)
    for key, values in extras.items():
        for value in values:
            checks.append(
                Attributes(
                    requester,
                    "impersonate",
                    True,
                    "",
                    "authentication.k8s.io",
                    "v1",
                    "userextras",
                    key,
                    value,
                )
            )
    for uid in uids:
        checks.append(
            Attributes(requester, "impersonate", True, "", "authentication.k8s.io", "v1", "uids", "", uid)
        )
    for attrs in checks:
        decision = authorizer.authorize(attrs)
        if not decision.allowed:
            raise status.forbidden(attrs, forbidden_message(attrs, decision.reason))
    if username != ANONYMOUS and not (AUTHENTICATED in groups or UNAUTHENTICATED in groups):
        groups.append(AUTHENTICATED)
    return UserInfo(
        username, tuple(groups), uids[0] if uids else "", {k: tuple(v) for k, v in extras.items()}
    )
