"""Volumes and the environment with real pods: a ConfigMap file served over HTTP by the app, a
Secret in env and as a file with its mode, an emptyDir shared by two containers, a projected
volume, subPath, an update seen in the mounted file and not in the env nor the subPath file, and
a ConfigMap that arrives after its pod. What a container sees is read from inside it (exec in
its mount namespace) or over the pod network."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hitless.api.types.config import ConfigMap, Secret
from hitless.api.types.meta import K8sObject
from hitless.api.types.pod import Pod
from hitless.kubelet.status import CONTAINER_ID_PREFIX
from hitless.kubelet.volumes.manager import VolumeOptions

from .conftest import Cluster, cluster_of, running

pytestmark = pytest.mark.slow

WEB = """
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: python
    command: [python3, -m, http.server, "8080", --bind, 0.0.0.0, --directory, /etc/app]
    env:
    - name: GREETING
      valueFrom: {configMapKeyRef: {name: app-config, key: greeting}}
    - name: PASSWORD
      valueFrom: {secretKeyRef: {name: creds, key: password}}
    readinessProbe: {httpGet: {path: /greeting, port: 8080}, periodSeconds: 1}
    volumeMounts:
    - {name: config, mountPath: /etc/app}
    - {name: config, mountPath: /etc/greeting-at-start, subPath: greeting}
    - {name: creds, mountPath: /etc/creds}
    - {name: shared, mountPath: /shared}
    - {name: everything, mountPath: /etc/everything}
  - name: writer
    image: busybox
    command: [sh, -c, "echo from-writer > /data/note; exec sleep 3600"]
    volumeMounts:
    - {name: shared, mountPath: /data}
  volumes:
  - {name: config, configMap: {name: app-config}}
  - {name: creds, secret: {secretName: creds, defaultMode: 0400}}
  - {name: shared, emptyDir: {}}
  - name: everything
    projected:
      sources:
      - configMap: {name: app-config, items: [{key: greeting, path: cm/greeting}]}
      - secret: {name: creds}
      - downwardAPI: {items: [{path: podname, fieldRef: {fieldPath: metadata.name}}]}
      - serviceAccountToken: {path: token}
"""

LATE = """
apiVersion: v1
kind: Pod
metadata: {name: late}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    command: [sleep, "3600"]
    volumeMounts:
    - {name: cfg, mountPath: /cfg}
  volumes:
  - {name: cfg, configMap: {name: arrives-later}}
"""


def config_map(name: str, data: dict[str, str]) -> ConfigMap:
    return ConfigMap.model_validate(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default"},
            "data": data,
        }
    )


def secret(name: str, data: dict[str, str]) -> Secret:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    meta = {"name": name, "namespace": "default"}
    return Secret.model_validate({"apiVersion": "v1", "kind": "Secret", "metadata": meta, "data": encoded})


def container_id(pod: Pod, name: str) -> str:
    for status in pod.status.container_statuses or []:
        if status.name == name and status.container_id:
            return status.container_id.removeprefix(CONTAINER_ID_PREFIX)
    raise AssertionError(f"no container {name} in {pod.name}")


async def inside(cluster: Cluster, pod: Pod, container: str, script: str) -> str:
    result = await cluster.engine.runtime.exec_sync(container_id(pod, container), ["sh", "-c", script], 5)
    assert result.exit_code == 0, result.output
    return result.output.decode()


async def http_get(cluster: Cluster, ip: str, path: str) -> str:
    reader, writer = await cluster.engine.network.open_connection(ip, 8080, timeout=2)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    body = (await reader.read()).split(b"\r\n\r\n", 1)[1]
    writer.close()
    return body.decode()


async def wait_until(cluster: Cluster, check: Any, timeout: float = 10.0) -> None:
    deadline = cluster.clock.now() + timeout
    while not await check():
        if cluster.clock.now() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.05)


async def test_config_secret_empty_dir_projected_sub_path_and_updates(tmp_path: Path) -> None:
    options = VolumeOptions(sync_period=0.5, sync_jitter=0.0)
    async with cluster_of(tmp_path, nodes=1, volumes=options) as cluster:
        store = cluster.engine.store
        store.create(config_map("app-config", {"greeting": "hello", "index.html": "<h1>v1</h1>"}))
        store.create(secret("creds", {"password": "hunter2"}))
        cluster.apply(WEB)
        cluster.apply(LATE)

        pod = await cluster.wait_pod("web", running)
        assert pod.status.pod_ip is not None
        assert await http_get(cluster, pod.status.pod_ip, "/greeting") == "hello"
        assert await inside(cluster, pod, "app", "echo $GREETING $PASSWORD") == "hello hunter2\n"
        assert await inside(
            cluster, pod, "app", "cat /etc/creds/password; stat -L -c %a /etc/creds/password"
        ) == ("hunter2400\n")
        await wait_until(cluster, lambda: _has_note(cluster, pod))
        assert await inside(cluster, pod, "app", "cat /etc/greeting-at-start") == "hello"
        projected = "cat /etc/everything/cm/greeting /etc/everything/password /etc/everything/podname"
        assert await inside(cluster, pod, "app", projected) == "hellohunter2web"
        token = await inside(cluster, pod, "app", "cat /etc/everything/token")
        assert token.count(".") == 2
        # Read-only, as a configMap volume always is; nothing of it on the host's /etc.
        assert "Read-only" in (await _fails(cluster, pod, "touch /etc/app/x"))
        assert not _on_host("/etc/app") and not _on_host("/etc/everything")

        # The late pod waits in ContainerCreating with FailedMount, then starts.
        late = await cluster.wait_pod(
            "late", lambda p: any(e["reason"] == "FailedMount" for e in cluster.events("late"))
        )
        statuses = late.status.container_statuses or []
        assert statuses and statuses[0].state.waiting is not None
        assert statuses[0].state.waiting.reason == "ContainerCreating"
        [failed] = [e for e in cluster.events("late") if e["reason"] == "FailedMount"]
        assert (
            failed["message"]
            == 'MountVolume.SetUp failed for volume "cfg" : configmap "arrives-later" not found'
        )
        store.create(config_map("arrives-later", {"v": "arrived"}))
        late = await cluster.wait_pod("late", lambda p: p.status.phase == "Running")
        assert await inside(cluster, late, "app", "cat /cfg/v") == "arrived"

        # An edit reaches the mounted files (within the sync period), not env nor the subPath file.
        current = store.get("ConfigMap", "default", "app-config")
        assert isinstance(current, ConfigMap)
        edited = current.copy_deep()
        edited.data = {"greeting": "bonjour", "index.html": "<h1>v2</h1>"}
        store.update(edited)
        await wait_until(cluster, lambda: _serves(cluster, pod, "/greeting", "bonjour"))
        assert await http_get(cluster, pod.status.pod_ip, "/index.html") == "<h1>v2</h1>"
        assert await inside(cluster, pod, "app", "echo $GREETING") == "hello\n"
        assert await inside(cluster, pod, "app", "cat /etc/greeting-at-start") == "hello"
        assert await inside(cluster, pod, "app", "cat /etc/everything/cm/greeting") == "bonjour"
        assert (await inside(cluster, pod, "app", "readlink /etc/app/..data")).startswith("..20")


async def _has_note(cluster: Cluster, pod: Pod) -> bool:
    result = await cluster.engine.runtime.exec_sync(container_id(pod, "app"), ["cat", "/shared/note"], 5)
    return result.exit_code == 0 and result.output == b"from-writer\n"


async def _fails(cluster: Cluster, pod: Pod, script: str) -> str:
    result = await cluster.engine.runtime.exec_sync(container_id(pod, "app"), ["sh", "-c", script], 5)
    assert result.exit_code != 0
    return result.output.decode()


async def _serves(cluster: Cluster, pod: Pod, path: str, body: str) -> bool:
    assert pod.status.pod_ip is not None
    return await http_get(cluster, pod.status.pod_ip, path) == body


def _on_host(path: str) -> bool:
    return os.path.exists(path)


WRITER = """
apiVersion: v1
kind: Pod
metadata: {name: first}
spec:
  restartPolicy: Never
  containers:
  - name: app
    image: busybox
    command: [sh, -c, "echo kept > /data/file"]
    volumeMounts:
    - {name: data, mountPath: /data}
  volumes:
  - {name: data, persistentVolumeClaim: {claimName: data}}
"""


async def test_a_claim_outlives_its_pod(tmp_path: Path) -> None:
    async with cluster_of(tmp_path, nodes=1) as cluster:
        store = cluster.engine.store
        store.create(
            K8sObject.model_validate(
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "metadata": {"name": "data", "namespace": "default"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                }
            )
        )
        cluster.apply(WRITER)
        await cluster.wait_pod("first", lambda p: p.status.phase == "Succeeded")
        store.delete("Pod", "default", "first")
        await cluster.wait_gone("first")
        cluster.apply(WRITER.replace("first", "second").replace("echo kept > /data/file", "cat /data/file"))
        await cluster.wait_pod("second", lambda p: p.status.phase == "Succeeded")
        assert cluster.logs("second", "app") == ["kept"]
        claim = store.get("PersistentVolumeClaim", "default", "data")
        assert claim is not None and claim.to_json()["status"]["phase"] == "Bound"


MEMORY = """
apiVersion: v1
kind: Pod
metadata: {name: mem}
spec:
  restartPolicy: Never
  containers:
  - name: app
    image: busybox
    command: [sh, -c, "grep ' /cache ' /proc/self/mounts"]
    volumeMounts:
    - {name: cache, mountPath: /cache}
  volumes:
  - {name: cache, emptyDir: {medium: Memory, sizeLimit: 2Mi}}
"""


def test_memory_empty_dir_is_a_sized_tmpfs_under_hitless_up(tmp_path: Path) -> None:
    """Under ``hitless up`` the engine has a mount namespace of its own: the volume is a tmpfs of
    sizeLimit there, the container sees it at its mountPath, and the host's mounts never do."""
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(MEMORY)
    logs = tmp_path / "logs"
    result = subprocess.run(
        [sys.executable, "-m", "hitless", "up", str(manifest), "--duration", "20", "--log-dir", str(logs)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    [log] = logs.glob("default_mem_*/app/0.log")
    line = log.read_text().split(" ", 3)[3]
    assert line.startswith("tmpfs /cache tmpfs rw,nosuid,nodev") and "size=2048k" in line
    assert str(tmp_path) not in Path("/proc/self/mounts").read_text()
