"""The ``demo`` fixture: demo-app processes that are killed by PID at teardown, whatever the test did.

The children of an app die with it (they set a parent-death signal); any left are killed by PID too.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Callable, Iterator

import pytest

from .helpers import DemoApp, cmdline, pid_alive


@pytest.fixture
def demo() -> Iterator[Callable[..., DemoApp]]:
    """Start a demo app: ``demo("--flag", ...)``; listens on a free port of 127.0.0.1 unless told."""
    apps: list[DemoApp] = []

    def start(
        *args: str, env: dict[str, str] | None = None, prefix: list[str] | None = None, listen: bool = True
    ) -> DemoApp:
        base = ["--address", "127.0.0.1", "--port", "0"] if listen else []
        app = DemoApp([*base, *args], env=env, prefix=prefix)
        apps.append(app)
        return app

    yield start
    for app in apps:
        app.kill()
        for pid in map(int, re.findall(r"started child \d+ \(pid (\d+)\)", app.output)):
            if pid_alive(pid) and b"child.py" in cmdline(pid):
                os.kill(pid, signal.SIGKILL)
