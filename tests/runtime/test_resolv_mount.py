"""The kubelet's resolv.conf (a CRI Mount at /etc/resolv.conf) wins over the sandbox's for an
image container, as containerd's isInCRIMounts has it; /etc/hosts stays the sandbox's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hitless.runtime.cri import Mount, PodSandboxConfig
from hitless.runtime.linux import LinuxRuntime

from .busybox_rootfs import available
from .helpers import log_lines, run
from .test_image_containers import image_container, rootfs  # noqa: F401

pytestmark = pytest.mark.skipif(
    not available(), reason="needs busybox-static (apt-get install busybox-static)"
)


async def test_the_kubelets_resolv_conf_covers_the_sandboxes(
    runtime: LinuxRuntime,
    pod_config: Callable[..., PodSandboxConfig],
    rootfs: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    sandbox = await runtime.run_pod_sandbox(pod_config("web-1"))
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("search default.svc.cluster.local\nnameserver 127.96.0.10\n")
    config = image_container(
        rootfs,
        ["sh", "-c", "cat /etc/resolv.conf; head -1 /etc/hosts"],
        mounts=(Mount("/etc/resolv.conf", str(resolv)),),
    )
    cid = await run(runtime, sandbox, config)
    status = await runtime.wait_container(cid)
    lines = log_lines(runtime, cid)
    assert status.exit_code == 0, lines
    assert lines == [
        "search default.svc.cluster.local",
        "nameserver 127.96.0.10",
        "# Kubernetes-managed hosts file.",
    ]
