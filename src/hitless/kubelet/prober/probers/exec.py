"""exec probes: a command run inside the container (pkg/probe/exec/exec.go, prober.go).

The command is ``exec.command`` with ``$(VAR)`` expanded from the container's own ``env`` values
only (ExpandContainerCommandOnlyStatic: a ``valueFrom`` variable expands to ""). It runs through
the runtime's ExecSync with the probe's timeout. Exit 0 is Success; any other exit is a Failure
whose output is stdout then stderr (10 KiB at most); a timeout is a Failure worded by the CRI
client (``command "sh -c sleep 5" timed out``); the runtime kills the command's whole tree.

A command that cannot be started at all is a probe *error*, as on a containerd node: runc's exec
fails, containerd's ExecSync returns that error rather than an exit code, and the kubelet reports
``... probe errored and resulted in unknown state: rpc error: code = Unknown desc = failed to exec
in container: failed to start exec "<id>": OCI runtime exec failed: ...`` and changes nothing
(seen in kubelet Events, e.g. Actual-Chat/actual-chat#3034). So a misconfigured exec probe never
kills the container, and never makes it ready.
"""

from __future__ import annotations

import secrets

from hitless.api.gofmt import quote
from hitless.api.types.pod import Probe
from hitless.kubelet.env import expand
from hitless.kubelet.prober.probers.base import ProbeOutcome, ProberDeps, ProbeTarget
from hitless.kubelet.prober.results import Result
from hitless.runtime.cri import RuntimeError_, StartError

MAX_OUTPUT = 10 * 1024  # exec.go maxReadLength


class ExecProber:
    def __init__(self, deps: ProberDeps) -> None:
        self._runtime = deps.runtime

    async def probe(self, probe: Probe, target: ProbeTarget, timeout: float) -> ProbeOutcome:
        action = probe.exec
        assert action is not None
        env = {var.name: var.value or "" for var in target.container.env or []}
        argv = [expand(arg, env) for arg in action.command or []]
        try:
            result = await self._runtime.exec_sync(target.container_id, argv, timeout, MAX_OUTPUT)
        except StartError as exc:
            exec_id = secrets.token_hex(32)
            return ProbeOutcome(
                Result.UNKNOWN,
                error=f"rpc error: code = Unknown desc = failed to exec in container: "
                f"failed to start exec {quote(exec_id)}: {exc}",
            )
        except RuntimeError_ as exc:
            return ProbeOutcome(Result.UNKNOWN, error=str(exc))
        if result.timed_out:
            return ProbeOutcome(Result.FAILURE, f"command {quote(' '.join(argv))} timed out")
        output = result.output.decode(errors="replace")
        return ProbeOutcome(Result.SUCCESS if result.exit_code == 0 else Result.FAILURE, output)
