"""Pods of ``hitless up --api`` calling the API as pods on a cluster do: the real kubectl with its
in-cluster config, and a script that uses only the mounted token, ca.crt, namespace and the
KUBERNETES_SERVICE_* variables, through the ``kubernetes`` Service's cluster IP (the pod's node
proxy, then the API server), with what their RBAC grants and no more."""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.apiserver.test_kubectl import KUBECTL, Up, pytestmark  # noqa: F401

# Only the standard library, as an app would: the in-cluster config of client-go, by hand.
SCRIPT = r"""
import json, os, ssl, urllib.request, urllib.error
sa = "/var/run/secrets/kubernetes.io/serviceaccount"
token = open(f"{sa}/token").read()
ns = open(f"{sa}/namespace").read()
host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"]
ctx = ssl.create_default_context(cafile=f"{sa}/ca.crt")
def call(path, bad_token=False):
    request = urllib.request.Request(f"https://{host}:{port}{path}")
    request.add_header("Authorization", "Bearer " + (token[:-2] + "xx" if bad_token else token))
    try:
        with urllib.request.urlopen(request, context=ctx, timeout=10) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)
out = {"ns": ns, "env": {k: v for k, v in os.environ.items() if k.startswith("KUBERNETES_")}}
out["version"] = call("/version")[0]
out["pods"] = call(f"/api/v1/namespaces/{ns}/pods")
out["forged"] = call("/version", bad_token=True)
print("RESULT " + json.dumps(out), flush=True)
import time
time.sleep(1000)
"""


# The official Python client's in-cluster config, as an operator written in Python starts.
OFFICIAL_CLIENT = r"""
import json, time
from kubernetes import client, config
config.load_incluster_config()
api = client.CoreV1Api()
out = {"pods": sorted(p.metadata.name for p in api.list_namespaced_pod("team").items)}
try:
    api.list_namespaced_secret("team")
except client.ApiException as exc:
    out["secrets"] = [exc.status, json.loads(exc.body)["message"]]
print("RESULT " + json.dumps(out), flush=True)
time.sleep(1000)
"""


def manifest(home: Path) -> str:
    return f"""\
apiVersion: v1
kind: Namespace
metadata: {{name: team}}
---
# Made by the control plane before the manifest is applied: the manifest's is applied over it.
apiVersion: v1
kind: ServiceAccount
metadata: {{name: default, namespace: default, labels: {{owner: manifest}}}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: reader, namespace: team}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: pod-reader, namespace: team}}
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: read-pods, namespace: team}}
subjects: [{{kind: ServiceAccount, name: reader}}]
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}}
---
apiVersion: v1
kind: Pod
metadata: {{name: kubectl, namespace: team}}
spec:
  serviceAccountName: reader
  terminationGracePeriodSeconds: 1
  containers:
  - name: kubectl
    # The hitless image with a command runs on the host's filesystem: the host's kubectl, which
    # with no kubeconfig in its $HOME uses the in-cluster config.
    image: hitless:0.1.0
    command: [sh, -c, 'cd "$HOME";
      for c in "get pods -o name" "get secrets" "auth can-i list pods" "auth can-i list secrets"
               "auth can-i get pods/log" "auth can-i get pods --subresource=log"
               "auth whoami -o yaml" "auth can-i --list"; do
        echo "== kubectl $c"; kubectl $c 2>&1; echo "exit=$?"; done; echo "== done"; exec sleep 1000']
    env: [{{name: HOME, value: {home}}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: script, namespace: team}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: script
    image: hitless:0.1.0
    command: [{sys.executable}, -c, {json.dumps(SCRIPT)}]
---
apiVersion: v1
kind: Pod
metadata: {{name: client, namespace: team}}
spec:
  serviceAccountName: reader
  terminationGracePeriodSeconds: 1
  containers:
  - name: client
    image: hitless:0.1.0
    command: [{sys.executable}, -c, {json.dumps(OFFICIAL_CLIENT)}]
"""


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    tmp = tmp_path_factory.mktemp("incluster")
    # kubectl's $HOME in the pod (its discovery cache), on the host's filesystem like its binary.
    (tmp / "pod-home").mkdir()
    server = Up(tmp, manifest(tmp / "pod-home"))
    try:
        server.wait_for(lambda: any(line.startswith("export KUBECONFIG=") for line in server.stderr))
        yield server
    finally:
        server.stop()


def logs(up: Up, pod: str, marker: str) -> str:
    text = ""

    def seen() -> bool:
        nonlocal text
        text = up.kubectl("logs", "-n", "team", pod, check=False).stdout
        return marker in text

    up.wait_for(seen, timeout=60)
    return text


def sections(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for chunk in text.split("== kubectl ")[1:]:
        command, _, rest = chunk.partition("\n")
        out[command] = rest.split("== ")[0].strip()
    return out


def test_kubectl_in_a_pod_has_what_its_role_binding_grants(up: Up) -> None:
    got = sections(logs(up, "kubectl", "== done"))
    assert got["get pods -o name"].splitlines() == ["pod/client", "pod/kubectl", "pod/script", "exit=0"]
    assert got["get secrets"] == (
        'Error from server (Forbidden): secrets is forbidden: User "system:serviceaccount:team:reader" '
        'cannot list resource "secrets" in API group "" in the namespace "team"\nexit=1'
    )
    # `kubectl auth can-i` (a SelfSubjectAccessReview) agrees with what the requests met.
    assert got["auth can-i list pods"] == "yes\nexit=0"
    assert got["auth can-i list secrets"] == "no\nexit=1"
    # pods/log names the pod "log" to kubectl; the subresource is its own flag, and needs its rule.
    assert got["auth can-i get pods/log"] == "yes\nexit=0"
    assert got["auth can-i get pods --subresource=log"] == "no\nexit=1"
    whoami = got["auth whoami -o yaml"]
    assert (
        "username: system:serviceaccount:team:reader" in whoami and "- system:serviceaccounts:team" in whoami
    )
    listed = got["auth can-i --list"].splitlines()
    assert listed[0].split() == ["Resources", "Non-Resource", "URLs", "Resource", "Names", "Verbs"]
    assert "pods [] [] [get list watch]" in [" ".join(line.split()) for line in listed]


def test_a_script_with_only_the_mounted_token_and_the_service_env(up: Up) -> None:
    text = logs(up, "script", "RESULT ")
    result = json.loads(text.split("RESULT ", 1)[1].splitlines()[0])
    assert result["ns"] == "team"
    service = json.loads(up.kubectl("get", "service", "kubernetes", "-n", "default", "-o", "json").stdout)
    ip = service["spec"]["clusterIP"]
    # kubelet_pods.go: the master Service's variables, whatever enableServiceLinks says.
    assert result["env"] == {
        "KUBERNETES_SERVICE_HOST": ip,
        "KUBERNETES_SERVICE_PORT": "443",
        "KUBERNETES_SERVICE_PORT_HTTPS": "443",
        "KUBERNETES_PORT": f"tcp://{ip}:443",
        "KUBERNETES_PORT_443_TCP": f"tcp://{ip}:443",
        "KUBERNETES_PORT_443_TCP_PROTO": "tcp",
        "KUBERNETES_PORT_443_TCP_PORT": "443",
        "KUBERNETES_PORT_443_TCP_ADDR": ip,
    }
    assert result["version"] == 200
    code, status = result["pods"]
    assert code == 403
    assert status["message"] == (
        'pods is forbidden: User "system:serviceaccount:team:default" cannot list resource "pods" '
        'in API group "" in the namespace "team"'
    )
    assert result["forged"][0] == 401


def test_a_manifest_s_default_service_account_is_applied_over_the_control_plane_s(up: Up) -> None:
    sa = json.loads(up.kubectl("get", "serviceaccount", "default", "-n", "default", "-o", "json").stdout)
    assert sa["metadata"]["labels"] == {"owner": "manifest"}


def test_kubectl_create_token_and_kubectl_as_the_service_account(up: Up) -> None:
    """`kubectl create token` (serviceaccounts/token, TokenRequest) gives a token that a client
    without the admin's certificate uses as the ServiceAccount."""
    token = up.kubectl("create", "token", "reader", "-n", "team").stdout.strip()
    config = yaml.safe_load(up.kubeconfig.read_text())
    server = config["clusters"][0]["cluster"]["server"]
    ca = up.tmp / "ca.crt"
    ca.write_bytes(base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]))
    as_sa = [
        "--kubeconfig",
        "/dev/null",
        "--server",
        server,
        "--certificate-authority",
        str(ca),
        "--token",
        token,
    ]
    pods = up.kubectl(*as_sa, "get", "pods", "-n", "team", "-o", "name")
    assert "pod/kubectl" in pods.stdout.split()
    denied = up.kubectl(*as_sa, "get", "secrets", "-n", "team", check=False)
    assert denied.returncode == 1
    assert 'User "system:serviceaccount:team:reader" cannot list resource "secrets"' in denied.stderr
    assert up.kubectl(*as_sa, "auth", "can-i", "list", "pods", "-n", "team").stdout.strip() == "yes"
    short = up.kubectl("create", "token", "reader", "-n", "team", "--duration=5m", check=False)
    assert (
        "spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 minutes"
        in short.stderr
    )
    missing = up.kubectl("create", "token", "nobody", "-n", "team", check=False)
    assert 'serviceaccounts "nobody" not found' in missing.stderr
    bad = up.kubectl(*[a if a != token else token[:-3] + "abc" for a in as_sa], "get", "pods", check=False)
    assert "error: You must be logged in to the server (Unauthorized)" in bad.stderr


def test_the_official_python_client_with_in_cluster_config(up: Up) -> None:
    text = logs(up, "client", "RESULT ")
    result = json.loads(text.split("RESULT ", 1)[1].splitlines()[0])
    assert result["pods"] == ["client", "kubectl", "script"]
    assert result["secrets"] == [
        403,
        'secrets is forbidden: User "system:serviceaccount:team:reader" cannot list resource "secrets" '
        'in API group "" in the namespace "team"',
    ]


def test_kubectl_as_the_service_account(up: Up) -> None:
    """The admin impersonating the ServiceAccount (`--as`) meets exactly its access."""
    as_reader = ["--as", "system:serviceaccount:team:reader"]
    assert "pod/kubectl" in up.kubectl(*as_reader, "get", "pods", "-n", "team", "-o", "name").stdout.split()
    denied = up.kubectl(*as_reader, "get", "secrets", "-n", "team", check=False)
    assert denied.returncode == 1 and denied.stderr.strip() == (
        'Error from server (Forbidden): secrets is forbidden: User "system:serviceaccount:team:reader" '
        'cannot list resource "secrets" in API group "" in the namespace "team"'
    )
    for verb, resource, expected in (
        ("list", "pods", "yes"),
        ("list", "secrets", "no"),
        ("delete", "pods", "no"),
    ):
        can = up.kubectl("auth", "can-i", verb, resource, "-n", "team", *as_reader, check=False)
        assert can.stdout.strip() == expected, (verb, resource, can.stdout, can.stderr)
    who = up.kubectl("auth", "whoami", *as_reader, "-o", "json").stdout
    assert json.loads(who)["status"]["userInfo"]["groups"] == [
        "system:serviceaccounts",
        "system:serviceaccounts:team",
        "system:authenticated",
    ]


def test_kubectl_get_prints_roles_and_bindings_as_upstream(up: Up) -> None:
    bindings = up.kubectl("get", "rolebindings", "-n", "team", "-o", "wide").stdout.splitlines()
    assert bindings[0].split() == ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"]
    name, role, _age, sa = bindings[1].split()
    assert (name, role, sa) == ("read-pods", "Role/pod-reader", "/reader")
    roles = up.kubectl("get", "clusterroles", "view", "edit").stdout.splitlines()
    assert roles[0].split() == ["NAME", "CREATED", "AT"]
    assert [line.split()[0] for line in roles[1:]] == ["view", "edit"]
    assert roles[1].split()[1].endswith("Z")
