"""What each endpoint answers, given the app's run-time state; the HTTP mechanics are in server.py."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable

from hitless.demo.log import log, uptime, wall_stamp
from hitless.demo.messages import Request, Response, query_int, text
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
PROBE_PATHS = ("/redirect", "/redirect-chain", "/headers", "/big")  # answered by probing.py
JSON = "application/json"


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
        # gRPC health either follows an endpoint (--grpc-health readyz, the default) or has its own
        # schedule, overridden by /control/grpc.
        self.grpc_follows = opts.grpc_health if isinstance(opts.grpc_health, str) else ""
        self.grpc_served = bool(opts.grpc_ports)
        if isinstance(opts.grpc_health, HealthSpec):
            self.specs["grpc"] = opts.grpc_health
        self.overrides: dict[str, str] = {}
        # Set on SIGTERM in the drain mode: /readyz fails (unless --keep-ready-on-sigterm).
        self.draining = False
        self.request_exit = request_exit

    def health(self, name: str) -> tuple[str, str]:
        """The endpoint's state now, and why (for the response body and the logs)."""
        if name == "grpc" and self.grpc_follows:
            state, why = self.health(self.grpc_follows)
            return state, f"{self.grpc_follows}: {why}"
        # Own-schedule gRPC health fails on SIGTERM too, as grpc-go's health server's Shutdown does.
        if name in ("readyz", "grpc") and self.draining and not self.keep_ready_on_sigterm:
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
        if self.grpc_served and self.grpc_follows:
            state, why = self.health("grpc")
            health["grpc"] = {"state": state, "because": why, "spec": f"follows {self.grpc_follows}"}
        return {
            "pod": self.pod,
            "pid": self.pid,
            "uptime": round(uptime(), 3),
            "draining": self.draining,
            "latency": str(self.latency),
            "health": health,
        }


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
        return text(400, f"bad latency: {e}")

    if path in HEALTH_PATHS:
        await _sleep(delay)
        return _health(state, HEALTH_PATHS[path])
    if path in PROBE_PATHS:
        # Like the health endpoints, not slowed by --latency: they stand in for a probe's target.
        # Imported on first use: only tests of the probers call them.
        from hitless.demo.probing import probe_endpoint

        await _sleep(delay)
        return probe_endpoint(req)
    if path == "/exit":
        await _sleep(delay)
        return _exit(state, req)
    if path not in APP_PATHS and not path.startswith("/delay/"):
        return text(404, f"no endpoint {path} (see hitless demo-app --help)")

    try:
        status = query_int(req, "code", 200, 200, 599, "a status")
    except ValueError as e:
        return text(400, str(e))
    await _sleep(state.latency.sample() if delay is None else delay)
    if path == "/hostname":
        return text(status, state.pod)
    if path == "/clientip":
        return text(status, f"{req.peer[0]}:{req.peer[1]}")
    return _json(status, _echo(state, req))


async def _sleep(seconds: float | None) -> None:
    if seconds:
        await asyncio.sleep(seconds)


def _health(state: State, name: str) -> Response:
    current, why = state.health(name)
    if current == HANG:
        return HANG_RESPONSE
    if current == OK:
        return text(200, "ok")
    # 503, as agnhost's /readyz answers while shutting down; any status >= 400 fails a probe.
    return text(503, f"{name} failing: {why}")


def _exit(state: State, req: Request) -> Response:
    raw = req.query.get("code", "0")
    try:
        code = int(raw)
    except ValueError:
        code = -1
    if not 0 <= code <= 255:
        return text(400, f"code must be an exit code between 0 and 255, not {raw!r}")
    return Response(
        200,
        f"exiting with code {code}\n".encode(),
        after=lambda: state.request_exit(code, f"/exit?code={code} requested"),
    )


def _echo(state: State, req: Request) -> dict[str, object]:
    headers: dict[str, str] = {}
    for raw_name, value in req.headers:
        name = raw_name.lower()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return {
        "pod": state.pod,
        "pid": state.pid,
        "peer": {"ip": req.peer[0], "port": req.peer[1]},
        "local": {"ip": req.local[0], "port": req.local[1]},
        "method": req.method,
        "path": req.path,
        "query": req.query,
        "scheme": req.scheme,
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
        return text(405, f"{req.path} changes state: use POST")
    name = req.path[len("/control/") :]
    if name == "latency":
        try:
            state.latency = parse_latency(req.query.get("value", ""))
        except ValueError as e:
            return text(400, f"bad latency: {e}")
        log(f"control: latency set to {state.latency}")
        return _json(200, state.snapshot())
    target = "grpc" if name == "grpc" and "grpc" in state.specs else HEALTH_PATHS.get("/" + name)
    if name == "grpc" and target is None:
        return text(409, f"gRPC health follows {state.grpc_follows} (--grpc-health): change that one")
    if target is None:
        return text(404, f"no control {name!r}: healthz, readyz, startupz, grpc or latency")
    value = req.query.get("state", "")
    if value == "auto":
        state.overrides.pop(target, None)
        log(f"control: {target} back to its spec {state.specs[target].text}")
    elif value in HEALTH_STATES:
        state.overrides[target] = value
        log(f"control: {target} set to {value}")
    else:
        return text(400, f"state must be ok, fail, hang or auto, not {value!r}")
    return _json(200, state.snapshot())
