"""``Status`` errors, worded as the API server words them.

Reasons, codes and messages from k8s.io/apimachinery/pkg/api/errors/errors.go (NewNotFound,
NewAlreadyExists, NewConflict, NewInvalid, NewBadRequest, NewMethodNotSupported, NewGone,
NewTooManyRequests...). ``details.kind`` is the resource (``pods``) for the resource errors and
the kind (``Deployment``) for Invalid, as upstream's callers fill it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hitless.api.errors import FieldError

if TYPE_CHECKING:
    from hitless.apiserver.rbac import Attributes


class ApiError(Exception):
    """An error answer: raised anywhere in a handler, turned into a Status response."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details is not None:
            out["details"] = self.details
        out["code"] = self.code
        return out


def _details(group: str, resource: str, name: str) -> dict[str, Any]:
    d: dict[str, Any] = (
        {"name": name, "group": group, "kind": resource} if name else {"group": group, "kind": resource}
    )
    if not group:
        del d["group"]
    return d


def _qualified(group: str, resource: str) -> str:
    return f"{resource}.{group}" if group else resource


def not_found(group: str, resource: str, name: str) -> ApiError:
    return ApiError(
        404, "NotFound", f'{_qualified(group, resource)} "{name}" not found', _details(group, resource, name)
    )


def already_exists(group: str, resource: str, name: str) -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{_qualified(group, resource)} "{name}" already exists',
        _details(group, resource, name),
    )


def conflict(group: str, resource: str, name: str, why: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {_qualified(group, resource)} "{name}": {why}',
        _details(group, resource, name),
    )


MODIFIED = "the object has been modified; please apply your changes to the latest version and try again"


def invalid(group: str, kind: str, name: str, errors: list[FieldError]) -> ApiError:
    """NewInvalid: ``Deployment.apps "web" is invalid: [a, b]`` with a cause per field error."""
    qualified = f"{kind}.{group}" if group else kind
    texts = [str(e) for e in errors]
    if len(texts) == 1:
        message = f'{qualified} "{name}" is invalid: {texts[0]}'
    else:
        message = f'{qualified} "{name}" is invalid: [{", ".join(texts)}]'
    causes = [{"reason": e.type.value, "message": e.body(), "field": str(e.path)} for e in errors]
    details: dict[str, Any] = {"name": name, "group": group, "kind": kind, "causes": causes}
    if not group:
        del details["group"]
    return ApiError(422, "Invalid", message, details)


def invalid_message(group: str, kind: str, name: str, message: str) -> ApiError:
    """An Invalid answer whose message was already worded (the loader's)."""
    details: dict[str, Any] = {"name": name, "group": group, "kind": kind}
    if not group:
        del details["group"]
    return ApiError(422, "Invalid", message, details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def method_not_allowed() -> ApiError:
    """What the API server's router answers a verb the resource does not serve."""
    return ApiError(
        405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {}
    )


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def too_many_requests(message: str, cause: str, retry_after: int = 10) -> ApiError:
    """NewTooManyRequests with the eviction's DisruptionBudget cause."""
    return ApiError(
        429,
        "TooManyRequests",
        message,
        {"causes": [{"reason": "DisruptionBudget", "message": cause}], "retryAfterSeconds": retry_after},
        headers={"Retry-After": str(retry_after)},
    )


def unsupported_media_type(content_type: str, accepted: tuple[str, ...]) -> ApiError:
    return ApiError(
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: "
        + ", ".join(accepted),
        details={"causes": [{"reason": "UnexpectedServerResponse", "message": content_type}]},
    )


def forbidden(attrs: Attributes, message: str) -> ApiError:
    """NewForbidden: the request's resource (none for a path) and name as details."""
    details = _details(attrs.api_group, attrs.resource, attrs.name) if attrs.resource_request else {}
    return ApiError(403, "Forbidden", message, details)


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def path_not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})
