"""exec probes through the real Linux runtime: inside the container, killed with its tree on timeout."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hitless.clock import RealClock
from hitless.kubelet.prober.probers.base import ProbeOutcome, ProberDeps
from hitless.kubelet.prober.probers.exec import ExecProber
from hitless.kubelet.prober.results import Result
from hitless.runtime.cri import PodSandboxConfig
from hitless.runtime.linux import LinuxRuntime
from hitless.runtime.linux.procfs import has_cap_sys_admin
from hitless.runtime.network import PodNetwork

from ..runtime.helpers import container, pid_ns_members, run, wait_until
from .conftest import probe, target

pytestmark = pytest.mark.skipif(
    not (sys.platform.startswith("linux") and has_cap_sys_admin()),
    reason="exec probes run in containers, which need root (CAP_SYS_ADMIN)",
)

ENV = [
    {"name": "GREETING", "value": "hello"},
    {"name": "FROM_API", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
]


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[tuple[LinuxRuntime, str]]:
    rt = LinuxRuntime()
    try:
        config = PodSandboxConfig("exec-pod", "default", "uid-exec", "exec-pod", tmp_path / "logs")
        sandbox = await rt.run_pod_sandbox(config)
        yield rt, await run(rt, sandbox, container(["sleep", "1000"]))
    finally:
        await rt.shutdown()


async def exec_probe(app: tuple[LinuxRuntime, str], command: list[str], timeout: float = 5) -> ProbeOutcome:
    rt, cid = app
    deps = ProberDeps(network=PodNetwork(rt), runtime=rt, clock=RealClock())
    spec: dict[str, Any] = {"env": ENV}
    return await ExecProber(deps).probe(probe(exec={"command": command}), target(spec, cid=cid), timeout)


async def test_exit_codes_and_output(app: tuple[LinuxRuntime, str]) -> None:
    assert await exec_probe(app, ["sh", "-c", "echo fine"]) == ProbeOutcome(Result.SUCCESS, "fine\n")
    assert await exec_probe(app, ["sh", "-c", "echo err >&2; echo out; exit 3"]) == ProbeOutcome(
        Result.FAILURE, "out\nerr\n"
    )


async def test_only_literal_env_values_are_expanded(app: tuple[LinuxRuntime, str]) -> None:
    outcome = await exec_probe(app, ["echo", "$(GREETING)", "[$(FROM_API)]", "$(UNSET)", "$$(GREETING)"])
    assert outcome == ProbeOutcome(Result.SUCCESS, "hello [] $(UNSET) $(GREETING)\n")


async def test_output_is_cut_at_10_kib(app: tuple[LinuxRuntime, str]) -> None:
    outcome = await exec_probe(app, ["sh", "-c", "head -c 20000 /dev/zero | tr '\\0' x; exit 1"])
    assert (outcome.result, outcome.output) == (Result.FAILURE, "x" * 10240)


async def test_timeout_kills_the_whole_tree(app: tuple[LinuxRuntime, str]) -> None:
    rt, cid = app
    pid1 = rt.container_status(cid).pid
    assert pid1 is not None
    started = time.monotonic()
    # The subshell's sleep outlives the shell that started it.
    outcome = await exec_probe(app, ["sh", "-c", "(sleep 100 &); sleep 100"], timeout=0.5)
    assert time.monotonic() - started < 4
    assert outcome == ProbeOutcome(Result.FAILURE, 'command "sh -c (sleep 100 &); sleep 100" timed out')
    await wait_until(lambda: len(pid_ns_members(pid1)) == 1, timeout=5)


async def test_a_command_that_cannot_start_is_an_error(app: tuple[LinuxRuntime, str]) -> None:
    outcome = await exec_probe(app, ["no-such-binary", "--flag"])
    assert (outcome.result, outcome.output) == (Result.UNKNOWN, "")
    assert outcome.error is not None
    assert re.fullmatch(
        r'rpc error: code = Unknown desc = failed to exec in container: failed to start exec "[0-9a-f]{64}": '
        r"OCI runtime exec failed: exec failed: unable to start container process: "
        r'exec: "no-such-binary": executable file not found in \$PATH: unknown',
        outcome.error,
    ), outcome.error
