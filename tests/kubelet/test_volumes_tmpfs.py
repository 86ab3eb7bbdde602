"""Secrets and ``emptyDir.medium: Memory`` on tmpfs, in a mount namespace of their own (as the
engine's is under bootstrap): the volume is a tmpfs mount point, sized by ``sizeLimit``, and
unmounted when the pod's directory is removed. Run in a child ``unshare -m`` so that nothing is
mounted in the test's own namespace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CHILD = r"""
import asyncio, base64, json, os, sys
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from hitless.api.types.config import Secret
from hitless.api.types.pod import Pod
from hitless.api.types.volume import pod_volumes
from hitless.kubelet.env import NodeAllocatable
from hitless.kubelet.volumes.plugins import VolumeHost, set_up

root = Path(sys.argv[1])
meta = {"name": "s", "namespace": "default"}
data = {"k": base64.b64encode(b"v").decode()}
secret = Secret.model_validate({"apiVersion": "v1", "kind": "Secret", "metadata": meta, "data": data})

class Objects:
    def config_map(self, ns, name): return None
    def secret(self, ns, name): return secret

allocatable = NodeAllocatable(Fraction(1), Fraction(1), Fraction(1))
host = VolumeHost(root, Objects(), allocatable, True, lambda: datetime.now(UTC))
pod_meta = {"name": "p", "namespace": "default", "uid": "u"}
pod = Pod.from_json({"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta,
    "spec": {"containers": [{"name": "c"}], "volumes": [
        {"name": "s", "secret": {"secretName": "s"}},
        {"name": "m", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}}]}})
out = {}
for volume in pod_volumes(pod):
    path = set_up(host, pod, volume)
    st = os.statvfs(path)
    out[volume.name] = {"mount": os.path.ismount(path), "size": st.f_blocks * st.f_frsize}
out["secret"] = (root / "u/volumes/kubernetes.io~secret/s/k").read_text()
print(json.dumps(out))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_secret_and_memory_empty_dir_are_tmpfs(tmp_path: Path) -> None:
    result = subprocess.run(
        ["unshare", "-m", "--propagation", "private", sys.executable, "-c", CHILD, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["s"]["mount"] and out["m"]["mount"]
    assert out["m"]["size"] == 2**20
    assert out["secret"] == "v"
    # Nothing was mounted here: the child's namespace went with it.
    assert not os.path.ismount(tmp_path / "u/volumes/kubernetes.io~secret/s")
