"""Lifecycle hook handlers: exec, httpGet and sleep (pkg/kubelet/lifecycle/handlers.go).

``run`` returns ``(message, error)`` as the kubelet's HandlerRunner does; the message is what
a failed postStart leaves in the container's waiting state. exec hooks have no timeout; the
caller decides how long to wait (preStop: the grace period) and abandons, not kills, a hook
that overruns, as the kubelet does.
"""

from __future__ import annotations

from hitless.api.types.pod import Container, LifecycleHandler, Pod
from hitless.clock import Clock
from hitless.kubelet.format import format_pod
from hitless.kubelet.http import http_get, request_headers
from hitless.kubelet.ports import PortError, resolve_port
from hitless.runtime.cri import RuntimeService, StartError
from hitless.runtime.network import PodNetwork


class HookError(Exception):
    pass


class HandlerRunner:
    def __init__(self, runtime: RuntimeService, network: PodNetwork, clock: Clock) -> None:
        self._runtime = runtime
        self._network = network
        self._clock = clock

    async def run(
        self, container_id: str, pod: Pod, container: Container, handler: LifecycleHandler, pod_ip: str
    ) -> tuple[str, Exception | None]:
        """Run a hook; ``pod_ip`` is the sandbox's address (the runtime's, not the API status's,
        which a pod's first sync has not published yet)."""
        if handler.exec is not None:
            command = handler.exec.command or []
            try:
                result = await self._runtime.exec_sync(container_id, command, timeout=None)
            except StartError as exc:
                err: Exception = HookError(str(exc))
                output = ""
            else:
                if result.exit_code == 0:
                    return "", None
                output = result.output.decode(errors="replace")
                err = HookError(f"command '{' '.join(command)}' exited with {result.exit_code}: {output}")
            return (
                f"Exec lifecycle hook ({_go_list(command)}) for Container {_q(container.name)} in Pod "
                f"{_q(format_pod(pod))} failed - error: {err}, message: {_q(output)}",
                err,
            )
        if handler.http_get is not None:
            action = handler.http_get
            try:
                port = resolve_port(action.port, container)
                host = action.host or pod_ip
                headers = [(h.name, h.value) for h in action.http_headers or []]
                # The kubelet's lifecycle client has no timeout of its own; the caller's wait bounds it.
                await http_get(
                    self._network,
                    scheme=(action.scheme or "HTTP").lower(),
                    host=host,
                    port=port,
                    target=action.path or "/",
                    headers=request_headers(host, port, headers, "kube-lifecycle"),
                    timeout=24 * 3600,
                )
                # The status code is not checked: only a transport error fails an HTTP hook.
                return "", None
            except (OSError, PortError, TimeoutError, ValueError) as exc:
                return (
                    f"HTTP lifecycle hook ({action.path or '/'}) for Container {_q(container.name)} in Pod "
                    f"{_q(format_pod(pod))} failed - error: {exc}",
                    exc,
                )
        if handler.sleep is not None:
            await self._clock.sleep(handler.sleep.seconds)
            return "", None
        err = HookError(f"invalid handler: {handler.to_json()}")
        return f"Cannot run handler: {err}", err


def _q(text: str) -> str:
    """Go's %q for the strings that appear in hook messages."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _go_list(items: list[str]) -> str:
    return "[" + " ".join(items) + "]"
