"""Fixtures for the Linux runtime tests: real processes, real namespaces, real signals."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from hitless.runtime.cri import PodSandboxConfig
from hitless.runtime.linux import LinuxRuntime
from hitless.runtime.linux.procfs import has_cap_sys_admin

CAPABLE = sys.platform.startswith("linux") and has_cap_sys_admin()


@pytest.fixture(autouse=True)
def _needs_namespaces() -> None:
    if not CAPABLE:
        pytest.skip("the Linux runtime tests need root (CAP_SYS_ADMIN to create namespaces)")


@pytest.fixture
async def runtime() -> AsyncIterator[LinuxRuntime]:
    rt = LinuxRuntime()
    try:
        yield rt
    finally:
        await rt.shutdown()


@pytest.fixture
def pod_config(tmp_path: Path) -> Callable[..., PodSandboxConfig]:
    def make(name: str = "web-1", hostname: str | None = None) -> PodSandboxConfig:
        return PodSandboxConfig(
            name=name,
            namespace="default",
            uid=f"uid-{name}",
            hostname=hostname or name,
            log_directory=tmp_path / "logs" / name,
        )

    return make
