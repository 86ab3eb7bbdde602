"""What a request asks for, as the authorizer sees it.

staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go (RequestInfoFactory.
NewRequestInfo): ``/api/v1/...`` and ``/apis/GROUP/VERSION/...`` with at least a resource are
resource requests (verb from the method; a GET or DELETE without a name is list, watch or
deletecollection; a list or watch with ``fieldSelector=metadata.name=X`` names X); everything
else, discovery included, is a non-resource request whose verb is the method in lower case.
``namespaces/NAME`` is in namespace NAME; ``namespaces/NAME/status`` and ``finalize`` are the
namespace's subresources.
"""

from __future__ import annotations

from collections.abc import Mapping

from hitless.apiserver.rbac import Attributes
from hitless.apiserver.serviceaccount import UserInfo

_VERBS = {
    "POST": "create",
    "GET": "get",
    "HEAD": "get",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}
_NAMESPACE_SUBRESOURCES = ("status", "finalize")


def _truthy(value: str | None) -> bool:
    # As rest_util.flag reads the same parameter: what is authorized is what is served.
    return value is not None and value.lower() in ("true", "1")


def _name_from_field_selector(selector: str | None) -> str:
    """fields.Selector.RequiresExactMatch("metadata.name")."""
    if not selector:
        return ""
    for term in selector.split(","):
        for op in ("==", "="):
            key, sep, value = term.partition(op)
            if sep and key.strip() == "metadata.name" and not value.startswith("="):
                return value.strip()
    return ""


def request_attributes(user: UserInfo, method: str, path: str, query: Mapping[str, str]) -> Attributes:
    parts = [p for p in path.strip("/").split("/") if p]
    nonresource = Attributes(user, method.lower(), False, path=path)
    if not parts or parts[0] not in ("api", "apis"):
        return nonresource
    if parts[0] == "apis":
        if len(parts) < 4:
            return nonresource
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        if len(parts) < 3:
            return nonresource
        group, version, rest = "", parts[1], parts[2:]
    verb = _VERBS.get(method.upper(), method.lower())
    if rest[0] == "watch":
        # /api/v1/watch/...: the legacy watch paths.
        verb, rest = "watch", rest[1:]
        if not rest:
            return nonresource
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if not name and verb == "get":
        verb = "watch" if _truthy(query.get("watch")) else "list"
    if not name and verb in ("list", "watch"):
        name = _name_from_field_selector(query.get("fieldSelector"))
    elif not name and verb == "delete":
        verb = "deletecollection"
    return Attributes(user, verb, True, namespace, group, version, resource, subresource, name, path)
