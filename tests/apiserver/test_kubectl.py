"""The real kubectl and the official Python client against a real ``hitless up --api 0``.

One ``hitless up`` serves the whole module (a Deployment ``web`` of the demo app, a Service, a
pod whose container keeps crashing and one that logs on a timer); each test drives it as a user
would. kubectl is the Google Cloud SDK's build (``/usr/bin/kubectl``, a dispatcher over kubectl
1.27-1.33, .ci/run checks it is there); the commands share one ``$HOME``, so
the first discovers and the others use kubectl's cache.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hitless.runtime.linux.procfs import has_cap_sys_admin

KUBECTL = shutil.which("kubectl")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not has_cap_sys_admin(), reason="hitless up needs root (namespaces)"),
    pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed (.ci/run installs it)"),
]

MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  strategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: web
        image: hitless:0.1.0
        args: [demo-app, --port=8080]
        ports: [{containerPort: 8080}]
        readinessProbe: {httpGet: {path: /readyz, port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: crasher}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    # Crashes once, then runs: a container left in CrashLoopBackOff would hold up the stop.
    command: [sh, -c, 'echo "run $(cat /proc/sys/kernel/random/uuid)"; m=/tmp/hitless-crasher-$UID;
              if [ -e $m ]; then rm $m; exec sleep 1000; fi; touch $m; sleep 0.5; exit 3']
    env: [{name: UID, valueFrom: {fieldRef: {fieldPath: metadata.uid}}}]
---
apiVersion: v1
kind: Pod
metadata: {name: ticker}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: t
    image: busybox
    command: [sh, -c, 'for i in 1 2 3 4 5 6; do echo "tick $i"; sleep 0.4; done; sleep 1000']
"""


class Up:
    """``hitless up --api 0`` in the background, its output drained by threads."""

    def __init__(self, tmp: Path, manifest: str = MANIFEST) -> None:
        self.tmp = tmp
        self.kubeconfig = tmp / "kubeconfig"
        (tmp / "app.yaml").write_text(manifest)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hitless", "up", str(tmp / "app.yaml"), "--api", "0",
             "--kubeconfig", str(self.kubeconfig), "-o", "jsonl"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.stdout: list[dict[str, Any]] = []
        self.stderr: list[str] = []
        self._threads = [
            threading.Thread(target=self._drain_out, daemon=True),
            threading.Thread(target=self._drain_err, daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _drain_out(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.stdout.append(json.loads(line))

    def _drain_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def wait_for(self, what: Callable[[], bool], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not what():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"not seen in {timeout}s; stderr: {''.join(self.stderr)[-3000:]}")
            time.sleep(0.05)

    def env(self) -> dict[str, str]:
        # One $HOME for the module: the first command discovers, the others use kubectl's cache.
        home = self.tmp / "home"
        home.mkdir(exist_ok=True)
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig), "HOME": str(home)}

    def kubectl(self, *args: str, timeout: float = 60, check: bool = True, binary: str | None = None,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
        proc = subprocess.run(
            [binary or KUBECTL or "kubectl", *args], capture_output=True, text=True, timeout=timeout,
            stdin=subprocess.DEVNULL,
            env={**self.env(), **(env or {})},
        )  # fmt: skip
        if check:
            assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stdout}{proc.stderr}"
        return proc

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                # What is still terminating after that is not under test: a second Ctrl-C kills it.
                self.proc.send_signal(signal.SIGINT)
                self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    server = Up(tmp_path_factory.mktemp("api"))
    try:
        server.wait_for(lambda: any(line.startswith("export KUBECONFIG=") for line in server.stderr))
        server.kubectl("wait", "--for=condition=Ready", "pod", "-l", "app=web", "--timeout=60s")
        yield server
    finally:
        server.stop()


def test_up_prints_the_context_and_the_kubeconfig_it_wrote(up: Up) -> None:
    text = "".join(up.stderr)
    assert f"kubectl context 'hitless' written to {up.kubeconfig}" in text
    assert f"export KUBECONFIG={up.kubeconfig}\n" in text
    assert (up.kubeconfig.stat().st_mode & 0o777) == 0o600
    # -o jsonl is unchanged: stdout holds API objects only.
    assert up.stdout and all("kind" in line for line in up.stdout)


def test_an_unauthenticated_client_is_refused(up: Up) -> None:
    server = next(line for line in up.kubeconfig.read_text().splitlines() if "server:" in line).split()[-1]
    args = ["--kubeconfig", "/dev/null", "-s", server, "--insecure-skip-tls-verify", "--token=wrong"]
    proc = up.kubectl(*args, "get", "pods", check=False)
    assert proc.returncode == 1
    assert "You must be logged in to the server" in proc.stderr


def test_get_describe_and_nodes(up: Up) -> None:
    out = up.kubectl("get", "pods", "-l", "app=web", "-o", "wide").stdout.splitlines()
    assert out[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED", "NODE",
                              "READINESS", "GATES"]  # fmt: skip
    rows = [line.split() for line in out[1:]]
    assert len(rows) == 2 and all(r[1:3] == ["1/1", "Running"] for r in rows)
    nodes = up.kubectl("get", "nodes").stdout.splitlines()
    assert [line.split()[:2] for line in nodes[1:]] == [["node-1", "Ready"], ["node-2", "Ready"]]
    name = rows[0][0]
    described = up.kubectl("describe", "pod", name).stdout
    assert (
        "Readiness:      http-get http://:8080/readyz delay=0s timeout=1s period=1s #success=1 #failure=3"
        in described
    )
    assert f"Successfully assigned default/{name} to node-" in described
    assert "Controlled By:  ReplicaSet/web-" in described
    everything = up.kubectl("get", "all").stdout
    assert "deployment.apps/web   2/2" in everything and "service/web" in everything
    slices = up.kubectl("get", "endpointslices").stdout.splitlines()
    assert slices[0].split() == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]


def test_get_watch_sees_every_pod_transition_of_a_rollout_in_order(up: Up) -> None:
    watch = subprocess.Popen(
        [KUBECTL or "kubectl", "get", "pods", "-l", "app=web", "-w", "--output-watch-events", "-o", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=up.env(),
    )  # fmt: skip
    chunks: list[str] = []

    def read() -> None:
        assert watch.stdout is not None
        for line in watch.stdout:
            chunks.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        # The watch starts with the current pods: once they are printed, it watches.
        up.wait_for(lambda: len(_json_stream("".join(chunks), partial=True)) >= 2)
        before = len(up.stdout)
        up.kubectl("rollout", "restart", "deployment/web")
        status = up.kubectl("rollout", "status", "deployment/web", "--timeout=60s").stdout
        assert 'deployment "web" successfully rolled out' in status
        # Every pod object the engine wrote during the rollout (stdout of `up -o jsonl`) ...
        up.wait_for(lambda: len(_web_pods(up)) == 2 and all(not _deleting(p) for p in _web_pods(up)))
        time.sleep(0.5)
    finally:
        watch.send_signal(signal.SIGINT)
        watch.wait(timeout=10)
        reader.join(timeout=10)
    events = _json_stream("".join(chunks))
    seen = [
        (e["object"]["metadata"]["name"], int(e["object"]["metadata"]["resourceVersion"])) for e in events
    ]
    # ... is seen by the watch, in the order it was written.
    written = [
        (p["metadata"]["name"], int(p["metadata"]["resourceVersion"]))
        for p in up.stdout[before:]
        if p.get("kind") == "Pod" and (p["metadata"].get("labels") or {}).get("app") == "web"
    ]
    modified = [(n, rv) for (n, rv), e in zip(seen, events, strict=True) if e["type"] != "DELETED"]
    assert [s for s in modified if s in set(written)] == written
    rvs = [rv for _, rv in seen]
    assert rvs[2:] == sorted(rvs[2:])  # after the two initial ADDED events, in resourceVersion order
    deleted = [e["object"]["metadata"]["name"] for e in events if e["type"] == "DELETED"]
    assert len(deleted) == 2


def _json_stream(text: str, partial: bool = False) -> list[dict[str, Any]]:
    """The objects of kubectl's ``-o json`` watch output (``partial``: ignore a last one cut short)."""
    decoder, out, i = json.JSONDecoder(), [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        try:
            obj, i = decoder.raw_decode(text, i)
        except ValueError:
            if partial:
                break
            raise
        out.append(obj)
    return out


def _web_pods(up: Up) -> list[dict[str, Any]]:
    proc = up.kubectl("get", "pods", "-l", "app=web", "-o", "json")
    items: list[dict[str, Any]] = json.loads(proc.stdout)["items"]
    return items


def _deleting(pod: dict[str, Any]) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp"))


def test_rollout_history_undo_and_scale(up: Up) -> None:
    history = up.kubectl("rollout", "history", "deployment/web").stdout
    assert "REVISION" in history
    up.kubectl("scale", "deployment/web", "--replicas=3")
    up.wait_for(lambda: len([p for p in _web_pods(up) if not _deleting(p)]) == 3)
    scale = json.loads(
        up.kubectl("get", "--raw", "/apis/apps/v1/namespaces/default/deployments/web/scale").stdout
    )
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 3
    up.kubectl("scale", "deployment/web", "--replicas=2", "--current-replicas=3")
    up.kubectl("rollout", "undo", "deployment/web")
    up.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    jsonpath = "jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}"
    revision = up.kubectl("get", "deployment", "web", "-o", jsonpath).stdout
    assert int(revision) >= 3


def test_apply_client_side_then_server_side(up: Up) -> None:
    path = up.tmp / "api.yaml"
    manifest = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "api"}},
                 "template": {"metadata": {"labels": {"app": "api"}}, "spec": {"containers": [
                     {"name": "api", "image": "hitless:0.1.0", "args": ["demo-app", "--port=8081"],
                      "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]}}},
    }  # fmt: skip
    path.write_text(json.dumps(manifest))
    assert up.kubectl("apply", "-f", str(path)).stdout.strip() == "deployment.apps/api created"
    container = manifest["spec"]["template"]["spec"]["containers"][0]  # type: ignore[index]
    container["env"] = [{"name": "A", "value": "9"}]
    path.write_text(json.dumps(manifest))
    assert up.kubectl("apply", "-f", str(path)).stdout.strip() == "deployment.apps/api configured"
    assert up.kubectl("apply", "-f", str(path)).stdout.strip() == "deployment.apps/api unchanged"
    env = up.kubectl("get", "deploy", "api", "-o", "jsonpath={.spec.template.spec.containers[0].env}").stdout
    assert json.loads(env) == [{"name": "A", "value": "9"}]
    # The server validates: an invalid object gets the API server's message.
    container["image"] = ""
    path.write_text(json.dumps(manifest))
    proc = up.kubectl("apply", "-f", str(path), check=False)
    assert proc.returncode == 1
    assert (
        'The Deployment "api" is invalid: spec.template.spec.containers[0].image: Required value'
        in proc.stderr
    )
    container["image"] = "hitless:0.1.0"
    manifest["spec"]["replicas"] = 2  # type: ignore[index]
    path.write_text(json.dumps(manifest))
    proc = up.kubectl("apply", "--server-side", "-f", str(path))
    assert proc.stdout.strip() == "deployment.apps/api serverside-applied"
    other = json.loads(json.dumps(manifest))
    other["spec"]["replicas"] = 3
    (up.tmp / "other.yaml").write_text(json.dumps(other))
    proc = up.kubectl("apply", "--server-side", "--field-manager=other", "-f", str(up.tmp / "other.yaml"),
                      check=False)  # fmt: skip
    assert proc.returncode == 1
    assert (
        'Apply failed with 1 conflict: conflict with "kubectl" using apps/v1: .spec.replicas' in proc.stderr
    )
    up.kubectl(
        "apply",
        "--server-side",
        "--field-manager=other",
        "--force-conflicts",
        "-f",
        str(up.tmp / "other.yaml"),
    )
    assert up.kubectl("get", "deploy", "api", "-o", "jsonpath={.spec.replicas}").stdout == "3"
    assert (
        up.kubectl("apply", "--dry-run=server", "-f", str(path)).stdout.strip().endswith("(server dry run)")
    )
    up.kubectl("delete", "deployment", "api", "--wait=false")


def test_a_saved_file_and_kubectl_changes_coexist(up: Up) -> None:
    up.kubectl("annotate", "service", "web", "owner=team-a")
    up.kubectl("label", "service", "web", "tier=front")
    # hitless up re-applies the file on save, merging three ways as kubectl apply does: what
    # kubectl set, and the file never named, stays.
    manifest = up.tmp / "app.yaml"
    two_ports = "ports: [{name: a, port: 80, targetPort: 8080}, {name: b, port: 81}]"
    manifest.write_text(manifest.read_text().replace("ports: [{port: 80, targetPort: 8080}]", two_ports))

    def ports() -> list[Any]:
        svc = json.loads(up.kubectl("get", "service", "web", "-o", "json").stdout)
        found: list[Any] = svc["spec"]["ports"]
        return found

    up.wait_for(lambda: len(ports()) == 2)
    svc = json.loads(up.kubectl("get", "service", "web", "-o", "json").stdout)
    assert svc["metadata"]["annotations"]["owner"] == "team-a"
    assert svc["metadata"]["labels"]["tier"] == "front"


def test_imperative_create_sends_protobuf(up: Up) -> None:
    # kubectl's typed clients send protobuf bodies; they are decoded to the same JSON.
    assert up.kubectl("create", "namespace", "team-a").stdout.strip() == "namespace/team-a created"
    up.kubectl("create", "configmap", "settings", "-n", "team-a", "--from-literal=mode=fast")
    up.kubectl("create", "secret", "generic", "token", "-n", "team-a", "--from-literal=key=s3cr3t")
    up.kubectl(
        "create", "deployment", "idle", "-n", "team-a", "--image=x", "--replicas=0", "--", "sleep", "1000"
    )
    assert up.kubectl("auth", "can-i", "delete", "pods").stdout.strip() == "yes"
    ns = json.loads(up.kubectl("get", "namespace", "team-a", "-o", "json").stdout)
    assert ns["status"]["phase"] == "Active"
    cm = json.loads(up.kubectl("get", "configmap", "settings", "-n", "team-a", "-o", "json").stdout)
    assert cm["data"] == {"mode": "fast"}
    secret = json.loads(up.kubectl("get", "secret", "token", "-n", "team-a", "-o", "json").stdout)
    assert secret["data"] == {"key": "czNjcjN0"}
    dep = json.loads(up.kubectl("get", "deployment", "idle", "-n", "team-a", "-o", "json").stdout)
    # replicas 0 was set (a pointer: kept); the zero values of omitempty fields are left out.
    assert dep["spec"]["replicas"] == 0 and "paused" not in dep["spec"]
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["sleep", "1000"] and "stdin" not in container
    assert "creationTimestamp" not in dep["spec"]["template"]["metadata"]


def test_delete_with_a_grace_period_waits_for_the_pod(up: Up) -> None:
    name = _web_pods(up)[0]["metadata"]["name"]
    started = time.monotonic()
    proc = up.kubectl("delete", "pod", name, "--grace-period=3")
    assert proc.stdout.strip() == f'pod "{name}" deleted'
    assert time.monotonic() - started < 10
    assert up.kubectl("get", "pod", name, check=False).returncode == 1
    missing = up.kubectl("delete", "pod", "nosuch", check=False)
    assert 'Error from server (NotFound): pods "nosuch" not found' in missing.stderr


def test_logs_follow_and_previous(up: Up) -> None:
    # -f ends only with the container: read until the last line the container writes.
    command = [KUBECTL or "kubectl", "logs", "-f", "ticker"]
    follow = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=up.env())
    lines: list[str] = []
    assert follow.stdout is not None
    try:
        for line in follow.stdout:
            lines.append(line.strip())
            if line.strip() == "tick 6":
                break
    finally:
        follow.send_signal(signal.SIGINT)
        follow.wait(timeout=10)
    assert lines == [f"tick {i}" for i in range(1, 7)]
    tail = up.kubectl("logs", "ticker", "--tail=2", "--timestamps").stdout.splitlines()
    assert [line.split(" ", 1)[1] for line in tail] == ["tick 5", "tick 6"]
    up.wait_for(lambda: _restarts(up, "crasher") >= 1)
    previous = up.kubectl("logs", "crasher", "--previous").stdout
    current = up.kubectl("logs", "crasher").stdout
    assert previous.startswith("run ") and previous != current
    none = up.kubectl("logs", "ticker", "--previous", check=False)
    assert 'previous terminated container "t" in pod "ticker" not found' in none.stderr


def _restarts(up: Up, name: str) -> int:
    pod = json.loads(up.kubectl("get", "pod", name, "-o", "json").stdout)
    return int(pod["status"]["containerStatuses"][0]["restartCount"])


def test_wait_with_the_1_35_watch_list_and_older_discovery(up: Up) -> None:
    # kubectl >= 1.35 lists through a watch (sendInitialEvents); 1.33 does it with the gate on.
    kubectl_133 = "/usr/lib/google-cloud-sdk/bin/kubectl.1.33"
    if os.path.exists(kubectl_133):
        proc = up.kubectl("wait", "--for=condition=Ready", "pod/ticker", "--timeout=20s", binary=kubectl_133,
                          env={"KUBE_FEATURE_WatchListClient": "true"})  # fmt: skip
        assert proc.stdout.strip() == "pod/ticker condition met"
    kubectl_129 = "/usr/lib/google-cloud-sdk/bin/kubectl.1.29"
    if os.path.exists(kubectl_129):  # aggregated discovery v2beta1 only
        assert "ticker" in up.kubectl("get", "po", binary=kubectl_129).stdout


def test_the_official_python_client(up: Up) -> None:
    from kubernetes import client, config, watch

    api = config.new_client_from_config(config_file=str(up.kubeconfig))
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    pods = core.list_namespaced_pod("default", label_selector="app=web")
    assert {p.metadata.name for p in pods.items} and all(p.status.phase for p in pods.items)
    dep = apps.read_namespaced_deployment("web", "default")
    assert dep.spec.template.spec.containers[0].name == "web"
    cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="settings"), data={"a": "1"})
    core.create_namespaced_config_map("default", cm)
    assert core.read_namespaced_config_map("settings", "default").data == {"a": "1"}
    w = watch.Watch()
    names = []
    for event in w.stream(core.list_namespaced_pod, "default", field_selector="metadata.name=ticker",
                          timeout_seconds=1):  # fmt: skip
        names.append((event["type"], event["object"].metadata.name))
        w.stop()
    assert names == [("ADDED", "ticker")]
    # The ticker may still be ticking when this test runs first (alone, or first on its worker).
    up.wait_for(lambda: core.read_namespaced_pod_log("ticker", "default", tail_lines=1) == "tick 6\n")
    with pytest.raises(client.ApiException) as err:
        core.read_namespaced_pod("nosuch", "default")
    assert err.value.status == 404


def test_cordon_and_drain(up: Up) -> None:
    up.kubectl("cordon", "node-2")
    assert "Ready,SchedulingDisabled" in up.kubectl("get", "node", "node-2").stdout
    # The Deployment's pods, through the Eviction API; the bare pods stay for the other tests.
    proc = up.kubectl("drain", "node-2", "--pod-selector=app=web", "--ignore-daemonsets", "--timeout=60s")
    assert "node/node-2 drained" in proc.stdout
    on_node_2 = up.kubectl(
        "get", "pods", "-l", "app=web", "--field-selector=spec.nodeName=node-2", "-o", "name"
    )
    assert on_node_2.stdout.strip() == ""
    assert all(p["spec"]["nodeName"] == "node-1" for p in _web_pods(up))
    up.kubectl("uncordon", "node-2")
    up.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
