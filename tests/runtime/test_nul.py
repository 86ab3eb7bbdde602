"""A NUL byte in command, args or env: the start fails with runc's words, as on a node (the API
server accepts such a pod)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hitless.runtime.cri import ContainerState, PodSandboxConfig, StartError
from hitless.runtime.linux import LinuxRuntime

from .helpers import ENV, container


@pytest.fixture
async def sandbox(runtime: LinuxRuntime, pod_config: Callable[..., PodSandboxConfig]) -> str:
    return await runtime.run_pod_sandbox(pod_config())


@pytest.mark.parametrize(
    ("argv", "env", "wording"),
    [
        (
            ["sleep", "1"],
            {**ENV, "X": "a\x00b"},
            'invalid environment variable "X": contains nul byte (\\x00)',
        ),
        (["sle\x00ep"], ENV, 'exec: "sle\\x00ep": executable file not found in $PATH'),
        (["/bin/sle\x00ep"], ENV, 'exec: "/bin/sle\\x00ep": stat /bin/sle\x00ep: invalid argument'),
        (["/bin/sh", "-c", "echo a\x00b"], ENV, "exec /bin/sh: invalid argument"),
    ],
)
async def test_a_nul_byte_fails_the_start_as_runc_fails_it(
    runtime: LinuxRuntime, sandbox: str, argv: list[str], env: dict[str, str], wording: str
) -> None:
    cid = await runtime.create_container(sandbox, container(argv, env=env))
    with pytest.raises(StartError) as err:
        await runtime.start_container(cid)
    assert wording in str(err.value)
    assert str(err.value).startswith("failed to create containerd task: ")
    status = runtime.container_status(cid)
    assert (status.state, status.exit_code, status.reason) == (ContainerState.EXITED, 128, "StartError")
