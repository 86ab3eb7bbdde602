"""What each endpoint answers, given the app's run-time state; the HTTP mechanics are in server.py."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable

from hitless.demo.log import log, uptime, wall_stamp
from hitless.demo.options import Options
from hitless.demo.specs import FAIL, HANG, HEALTH_STATES, OK, HealthSpec, Latency, parse_latency

# Both spellings of each probe path are served: Kubernetes components use /livez and /healthz,
# and there is no settled name for a startup endpoint.
HEALTH_PATHS = {
    "/healthz": "healthz",
    "/livez": "healthz",
    "/readyz": "readyz",
    "/startupz": "startupz",
    "/started": "startupz",
}
APP_PATHS = ("/", "/echo", "/hostname", "/clientip")
JSON = "application/json"


class Request:
    # Plain classes, not dataclasses: see specs.py.
    __slots__ = (
        "body_bytes",
        "headers",
        "http_version",
        "local",
        "method",
        "on_connection",
        "path",
        "peer",
        "query",
        "target",
    )

    def __init__(
        self,
        *,
        method: str,
        target: str,
        query: dict[str, str],
        http_version: str,
        headers: list[tuple[str, str]],
        body_bytes: int,
        peer: tuple[str, int],
        local: tuple[str, int],
        on_connection: int,
    ) -> None:
        self.method, self.target, self.query = method, target, query
        self.path = target.partition("?")[0]
        self.http_version, self.headers, self.body_bytes = http_version, headers, body_bytes
        self.peer, self.local = peer, local
        self.on_connection = on_connection  # 1 for a connection's first request: shows keep-alive reuse


class Response:
    __slots__ = ("after", "body", "content_type", "hang", "status")

    def __init__(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "text/plain; charset=utf-8",
        after: Callable[[], None] | None = None,
        hang: bool = False,
    ) -> None:
        self.status, self.body, self.content_type, self.hang = status, body, content_type, hang
        # Run once the response is on the wire, e.g. /exit's exit, so the client sees its answer.
        self.after = after


HANG_RESPONSE = Response(0, hang=True)


class State:
    """The mutable run-time state the endpoints read and /control changes."""

    def __init__(self, opts: Options, pod: str, request_exit: Callable[[int, str], None]) -> None:
        self.pod = pod
        self.pid = os.getpid()
        self.latency: Latency = opts.latency
        self.keep_ready_on_sigterm = opts.keep_ready_on_sigterm
        self.specs: dict[str, HealthSpec] = {
            "healthz": opts.healthz,
            "readyz": opts.readyz,
            "startupz": opts.startupz,
        }
        self.overrides: dict[str, str] = {}
        # Set on SIGTERM in the drain mode: /readyz fails (unless --keep-ready-on-sigterm).
        self.draining = False
        self.request_exit = request_exit

    def health(self, name: str) -> tuple[str, str]:
        """The endpoint's state now, and why (for the response body and the logs)."""
        if name == "readyz" and self.draining and not self.keep_ready_on_sigterm:
            return FAIL, "shutting down"
        if name in self.overrides:
            return self.overrides[name], "set by /control"
        spec = self.specs[name]
        return spec.state_at(uptime()), spec.text

    def snapshot(self) -> dict[str, object]:
        health = {}
        for name, spec in self.specs.items():
            state, why = self.health(name)
            health[name] = {
                "state": state,
                "because": why,
                "spec": spec.text,
                "override": self.overrides.get(name),
            }
        return {
            "pod": self.pod,
            "pid": self.pid,
            "uptime": round(uptime(), 3),
            "draining": self.draining,
            "latency": str(self.latency),
            "health": health,
        }


def _text(status: int, text: str) -> Response:
    return Response(status, (text + "\n").encode())


def _json(status: int, data: object) -> Response:
    return Response(status, (json.dumps(data, indent=1) + "\n").encode(), JSON)


async def handle(state: State, req: Request) -> Response:
    path = req.path
    if path == "/control" or path.startswith("/control/"):
        return _control(state, req)
    try:
        delay = parse_latency(req.query["latency"]).sample() if "latency" in req.query else None
        if path.startswith("/delay/"):
            delay = parse_latency(path[len("/delay/") :]).sample()
    except ValueError as e:
        return _text(400, f"bad latency: {e}")

    if path in HEALTH_PATHS:
        await _sleep(delay)
        return _health(state, HEALTH_PATHS[path])
    if path == "/exit":
        await _sleep(delay)
        return _exit(state, req)
    if path not in APP_PATHS and not path.startswith("/delay/"):
        return _text(404, f"no endpoint {path} (see hitless demo-app --help)")

    status = 200
    if "code" in req.query:
        try:
            status = int(req.query["code"])
        except ValueError:
            status = 0
        if not 200 <= status <= 599:
            return _text(400, f"code must be a status between 200 and 599, not {req.query['code']!r}")
    await _sleep(state.latency.sample() if delay is None else delay)
    if path == "/hostname":
        return _text(status, state.pod)
    if path == "/clientip":
        return _text(status, f"{req.peer[0]}:{req.peer[1]}")
    return _json(status, _echo(state, req))


async def _sleep(seconds: float | None) -> None:
    if seconds:
        await asyncio.sleep(seconds)


def _health(state: State, name: str) -> Response:
    current, why = state.health(name)
    if current == HANG:
        return HANG_RESPONSE
    if current == OK:
        return _text(200, "ok")
    # 503, as agnhost's /readyz answers while shutting down; any status >= 400 fails a probe.
    return _text(503, f"{name} failing: {why}")


def _exit(state: State, req: Request) -> Response:
    raw = req.query.get("code", "0")
    try:
        code = int(raw)
    except ValueError:
        code = -1
    if not 0 <= code <= 255:
        return _text(400, f"code must be an exit code between 0 and 255, not {raw!r}")
    return Response(
        200,
        f"exiting with code {code}\n".encode(),
        after=lambda: state.request_exit(code, f"/exit?code={code} requested"),
    )


def _echo(state: State, req: Request) -> dict[str, object]:
    headers: dict[str, str] = {}
    for name, value in req.headers:
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return {
        "pod": state.pod,
        "pid": state.pid,
        "peer": {"ip": req.peer[0], "port": req.peer[1]},
        "local": {"ip": req.local[0], "port": req.local[1]},
        "method": req.method,
        "path": req.path,
        "query": req.query,
        "http_version": req.http_version,
        "headers": headers,
        "body_bytes": req.body_bytes,
        "request_on_connection": req.on_connection,
        "draining": state.draining,
        "time": wall_stamp(),
        "uptime": round(uptime(), 3),
    }


def _control(state: State, req: Request) -> Response:
    if req.path == "/control":
        return _json(200, state.snapshot())
    if req.method != "POST":
        return _text(405, f"{req.path} changes state: use POST")
    name = req.path[len("/control/") :]
    if name == "latency":
        try:
            state.latency = parse_latency(req.query.get("value", ""))
        except ValueError as e:
            return _text(400, f"bad latency: {e}")
        log(f"control: latency set to {state.latency}")
        return _json(200, state.snapshot())
    target = HEALTH_PATHS.get("/" + name)
    if target is None:
        return _text(404, f"no control {name!r}: healthz, readyz, startupz or latency")
    value = req.query.get("state", "")
    if value == "auto":
        state.overrides.pop(target, None)
        log(f"control: {target} back to its spec {state.specs[target].text}")
    elif value in HEALTH_STATES:
        state.overrides[target] = value
        log(f"control: {target} set to {value}")
    else:
        return _text(400, f"state must be ok, fail, hang or auto, not {value!r}")
    return _json(200, state.snapshot())
