"""Images end to end: a busybox httpd image built offline, pushed to a loopback registry, pulled
through a mirror of docker.io, served through a Service and rolled out by ``hitless verify``
with the article's recipe (readiness probe + preStop sleep), and the same image's config
(USER, WORKDIR, ENV, STOPSIGNAL) seen from inside the container."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.images.oci import Registry, missing_tools, umoci_busybox

from .verify_runs import HITLESS, ROOT, run_verify

pytestmark = pytest.mark.skipif(bool(missing_tools()), reason=f"needs {', '.join(missing_tools())}")

WEB = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  strategy: {{rollingUpdate: {{maxUnavailable: 0, maxSurge: 1}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      # busybox httpd has no SIGTERM handler: as PID 1 it ignores SIGTERM, as it would on a node,
      # and is SIGKILLed when the grace period ends (after the preStop sleep, nothing is routed to it).
      terminationGracePeriodSeconds: 4
      containers:
      - name: web
        image: {image}
        ports: [{{name: http, containerPort: 8080}}]
        readinessProbe:
          httpGet: {{path: /index.html, port: http}}
          periodSeconds: 1
          failureThreshold: 2
{extra}
---
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec:
  type: LoadBalancer
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: http}}]
"""

# The article's recipe: the pod keeps serving while every proxy learns it is terminating.
PRE_STOP_SLEEP = """\
        lifecycle:
          preStop:
            exec: {command: [sleep, "2"]}
"""


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    tmp = tmp_path_factory.mktemp("registry")
    reg = Registry(tmp / "registry").start()
    layout = tmp / "layout"
    # httpd as ENTRYPOINT, "-f -p 8080" as CMD, WORKDIR /www, USER 65534, PATH=/bin.
    umoci_busybox(layout, "web", applets=("sh", "ls", "cat", "httpd", "sleep", "id", "pwd", "env", "wget"))
    reg.push(f"oci:{layout}:web", "library/web:1")
    # The same without sleep: a distroless-style image whose preStop cannot run.
    umoci_busybox(layout, "bare", applets=("httpd",))
    reg.push(f"oci:{layout}:bare", "library/bare:1")
    try:
        yield reg
    finally:
        reg.stop()


@pytest.mark.slow
def test_an_image_rolled_out_by_verify_drops_nothing(registry: Registry, tmp_path: Path) -> None:
    manifest = tmp_path / "web.yaml"
    manifest.write_text(WEB.format(image="web:1", extra=PRE_STOP_SLEEP))
    result = run_verify(
        str(manifest), "--format", "json", "--repeat", "1", "--rps", "100",
        "--registry-mirror", f"docker.io=http://{registry.host}", "--image-cache", str(tmp_path / "cache"),
    )  # fmt: skip
    assert result.code == 0, result.describe()
    report = json.loads(result.stdout)
    requests = report["requests"]
    assert requests["total"] >= 100 and requests["failed"] == 0, result.describe()
    assert set(requests["byOutcome"]) == {"200"}
    # One pull, into the cache, for the 3 pods of the run.
    cached = subprocess.run(
        ["find", str(tmp_path / "cache"), "-maxdepth", "3", "-name", "rootfs*"],
        capture_output=True,
        text=True,
    )
    assert cached.returncode == 0


def up(
    manifest: Path,
    registry: Registry,
    cache: Path,
    logs: Path,
    seconds: int,
    *extra: str,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HITLESS, "up", str(manifest), "--output", "jsonl", "--duration", str(seconds),
         "--log-dir", str(logs),
         "--registry-mirror", f"docker.io=http://{registry.host}", "--image-cache", str(cache), *extra],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=env,
    )  # fmt: skip


def objects(stdout: str, kind: str) -> list[dict]:
    out = []
    for line in stdout.splitlines():
        if line.startswith("{"):
            obj = json.loads(line)
            if obj.get("kind") == kind:
                out.append(obj)
    return out


PODS = """\
apiVersion: v1
kind: Pod
metadata: {name: config}
spec:
  terminationGracePeriodSeconds: 2  # httpd as PID 1 ignores SIGTERM
  # Groups: the image USER 65534's own (65534, from the image's passwd), fsGroup, supplementalGroups.
  securityContext: {fsGroup: 3000, supplementalGroups: [4000]}
  containers:
  - name: app
    image: web:1
    # command replaces the ENTRYPOINT; USER, WORKDIR and ENV still come from the image.
    command:
    - sh
    - -c
    - |
      id -u; pwd; echo "PATH=$PATH"; test -e /usr/bin/python3 || echo image-root
      id -G; exec httpd -f -p 8080
    readinessProbe:
      # Only the image has /www/index.html: a probe run on the host would fail. The exec has
      # PID 1's groups, or it fails.
      exec: {command: [sh, -c, 'cat /www/index.html && test "$(id -G)" = "65534 3000 4000"']}
      periodSeconds: 1
---
apiVersion: v1
kind: Pod
metadata: {name: distroless}
spec:
  terminationGracePeriodSeconds: 3
  containers:
  - name: app
    image: bare:1
    lifecycle:
      preStop:
        exec: {command: [sleep, "30"]}
---
apiVersion: v1
kind: Pod
metadata: {name: messages}
spec:
  restartPolicy: Never
  containers:
  - name: file
    image: web:1
    command: [sh, -c, 'echo "written to the file" > /dev/termination-log; exit 1']
  - name: logs
    image: web:1
    terminationMessagePolicy: FallbackToLogsOnError
    command: [sh, -c, 'echo "config invalid: port" >&2; exit 2']
"""


@pytest.mark.slow
def test_image_config_exec_probe_and_a_prestop_the_image_cannot_run(
    registry: Registry, tmp_path: Path
) -> None:
    manifest = tmp_path / "pods.yaml"
    logs = tmp_path / "logs"
    podman = podman_store(registry, tmp_path / "podman")
    if podman is None:
        manifest.write_text(PODS)
        proc = up(manifest, registry, tmp_path / "cache", logs, 5)
    else:
        manifest.write_text(PODS + LOCAL_POD)
        env = {**os.environ, "CONTAINERS_STORAGE_CONF": str(podman)}
        proc = up(manifest, registry, tmp_path / "cache", logs, 5, "--image-source", "podman", env=env)
    assert proc.returncode == 0, proc.stderr
    pods = objects(proc.stdout, "Pod")
    ready = [
        p for p in pods
        if p["metadata"]["name"] == "config"
        and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))
    ]  # fmt: skip
    assert ready, proc.stdout[-3000:]
    status = ready[-1]["status"]["containerStatuses"][0]
    assert status["image"] == "docker.io/library/web:1"
    assert status["imageID"].startswith("docker.io/library/web@sha256:")
    # The image's USER 65534 with its passwd group, then fsGroup and supplementalGroups (KEP-3619).
    assert status["user"] == {
        "linux": {"uid": 65534, "gid": 65534, "supplementalGroups": [3000, 4000, 65534]}
    }
    (log,) = logs.glob("*_config_*/app/0.log")
    lines = [line.split(" ", 3)[3] for line in log.read_text().splitlines()]
    assert lines[:5] == ["65534", "/www", "PATH=/bin", "image-root", "65534 3000 4000"]
    events = {(e["reason"], e["message"]) for e in objects(proc.stdout, "Event")}
    assert ("Pulling", 'Pulling image "web:1"') in events
    assert any(r == "Pulled" and m.startswith('Successfully pulled image "web:1" in ') for r, m in events)
    assert ("FailedPreStopHook", "PreStopHook failed") in events
    # Termination messages: the file's content, and the log's tail for FallbackToLogsOnError.
    final = [p for p in pods if p["metadata"]["name"] == "messages"][-1]
    terminated = {c["name"]: c["state"].get("terminated") or {} for c in final["status"]["containerStatuses"]}
    assert terminated["file"].get("message") == "written to the file\n"
    assert terminated["logs"].get("message") == "config invalid: port\n"
    if podman is not None:
        # Built locally (a `podman load` of an archive), never pushed: `podman save` gave it.
        local = [p for p in pods if p["metadata"]["name"] == "local"][-1]["status"]["containerStatuses"][0]
        assert (local["state"].get("terminated") or {}).get("exitCode") == 0, local
        assert local["image"] == "localhost/api:dev" and local["imageID"].startswith("sha256:")
        assert any(
            r == "Pulled" and m.startswith('Successfully pulled image "localhost/api:dev"') for r, m in events
        )


LOCAL_POD = """\
---
apiVersion: v1
kind: Pod
metadata: {name: local}
spec:
  restartPolicy: Never
  containers:
  - name: app
    image: localhost/api:dev
    command: [cat, /www/index.html]
"""


def podman_store(registry: Registry, tmp: Path) -> Path | None:
    """A podman store of its own (CONTAINERS_STORAGE_CONF) holding localhost/api:dev, loaded from
    an archive skopeo made of the registry's web:1; None without podman."""
    if shutil.which("podman") is None:
        return None
    tmp.mkdir()
    conf = tmp / "storage.conf"
    conf.write_text(f'[storage]\ndriver = "vfs"\ngraphroot = "{tmp}/root"\nrunroot = "{tmp}/run"\n')
    archive = tmp / "api.tar"
    subprocess.run(
        ["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{registry.host}/library/web:1",
         f"docker-archive:{archive}:localhost/api:dev"],
        check=True, timeout=60,
    )  # fmt: skip
    env = {**os.environ, "CONTAINERS_STORAGE_CONF": str(conf)}
    subprocess.run(["podman", "load", "-q", "-i", str(archive)], check=True, timeout=60, env=env)
    return conf
