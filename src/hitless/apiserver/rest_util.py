"""Small helpers of the REST handlers: JSON responses, Status responses, query parameters."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hitless.apiserver import status
from hitless.apiserver.encode import dumps
from hitless.apiserver.serviceaccount import UserInfo
from hitless.apiserver.status import ApiError

JSON = "application/json"


def json_response(data: Any, code: int = 200, content_type: str = JSON) -> web.Response:
    body = data if isinstance(data, bytes) else dumps(data)
    return web.Response(body=body, status=code, headers={"Content-Type": content_type})


def status_response(err: ApiError) -> web.Response:
    resp = json_response(err.status(), err.code)
    for k, v in err.headers.items():
        resp.headers[k] = v
    return resp


def wants_table(request: web.Request) -> bool:
    return "as=Table" in request.headers.get("Accept", "")


def flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("true", "1")


def integer(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise status.bad_request(f'invalid value "{value}" for {name}') from exc


# The authenticated user of a request (ApiServer's auth middleware sets it).
USER = web.RequestKey("user", UserInfo)
