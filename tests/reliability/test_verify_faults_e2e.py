"""``hitless verify`` never turns its own failure into a verdict: exit 3 for a bug, 2 for overload."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

MANIFEST = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: web
        image: hitless
        args: [demo-app, --port=8080, --request-log=none]
        readinessProbe: {httpGet: {path: /readyz, port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
"""

# The load generator of the measurement (not the warm-up's) fails as a bug would.
INJECT = """
import sys
from hitless.verify.generator import LoadGenerator
run = LoadGenerator.run
async def faulty(self, duration=None):
    if self.options.rate == 123:
        raise RuntimeError("injected fault")
    await run(self, duration)
LoadGenerator.run = faulty
from hitless.cli.main import main
raise SystemExit(main(sys.argv[1:]))
"""


def verify(
    tmp_path: Path, argv: list[str], *flags: str, nofile: int | None = None, manifest: str = MANIFEST
) -> tuple[int, str, str]:
    path = tmp_path / "web.yaml"
    path.write_text(manifest)

    def limit() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    done = subprocess.run(
        [*argv, "verify", str(path), "--repeat", "1", *flags],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")},
        preexec_fn=limit,
    )
    return done.returncode, done.stdout, done.stderr


@pytest.mark.slow
def test_a_failed_load_generator_is_exit_3_not_a_verdict(tmp_path: Path) -> None:
    code, out, err = verify(tmp_path, [sys.executable, "-c", INJECT], "--rps", "123")
    assert code == 3, err
    assert "internal error in verify load generator: RuntimeError: injected fault" in err
    assert out == ""  # no report, no verdict
    assert list((tmp_path / "state" / "hitless").glob("crash-verify-*.txt"))


# Verify's own tasks: its body (here, the warm-up it awaits), the load balancer's sampler and its
# observer of container exits.
BODY = """
import sys
import hitless.verify.local
import hitless.verify.observe
async def faulty(*args, **kwargs):
    raise RuntimeError("injected fault")
{target}.{name} = faulty
from hitless.cli.main import main
raise SystemExit(main(sys.argv[1:]))
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("target", "name", "component"),
    [
        ("hitless.verify.local", "warm_up", "verify"),
        ("hitless.verify.local", "sample_lb", "verify load-balancer sampler"),
        ("hitless.verify.observe.ObservedRuntime", "_wait_exit", "verify container observer"),
    ],
)
def test_a_failed_verify_task_is_exit_3_naming_it(
    tmp_path: Path, target: str, name: str, component: str
) -> None:
    manifest = MANIFEST.replace(
        "spec:\n  selector: {app: web}", "spec:\n  type: LoadBalancer\n  selector: {app: web}"
    )
    assert manifest != MANIFEST
    code, out, err = verify(
        tmp_path,
        [sys.executable, "-c", BODY.replace("{target}", target).replace("{name}", name)],
        manifest=manifest,
    )
    assert code == 3, err
    assert f"internal error in {component}: RuntimeError: injected fault" in err
    assert out == ""


@pytest.mark.slow
def test_a_rate_this_machine_cannot_send_is_exit_2_not_failed_requests(tmp_path: Path) -> None:
    code, out, err = verify(
        tmp_path, [sys.executable, "-m", "hitless"], "--rps", "5000", "--connections", "close", nofile=1024
    )
    assert code == 2, err
    assert "the load generator could not keep up" in err
    assert "nothing was judged" in err
    assert out == ""
