"""``hitless up`` names what it stores without acting on it, a line per kind, and refuses an unknown
kind with exit 2 before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from hitless.cli import up

STORED = """\
apiVersion: v1
kind: ServiceAccount
metadata: {name: web}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: db, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: reader}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
"""


def test_stored_kinds_are_named_a_line_per_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = tmp_path / "app.yaml"
    manifest.write_text(STORED)

    assert up.main([str(manifest)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "hitless: ServiceAccount (v1): 2 stored, not emulated: web, kube-system/db",
        "hitless: ClusterRole (rbac.authorization.k8s.io/v1): 1 stored, not emulated: reader",
        "hitless: no Pods or Deployments to run",
    ]


def test_an_unknown_kind_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = tmp_path / "app.yaml"
    manifest.write_text("apiVersion: apps/v1beta1\nkind: Deployment\nmetadata: {name: web}\n")

    assert up.main([str(manifest)]) == 2
    err = capsys.readouterr().err
    assert 'no matches for kind "Deployment" in version "apps/v1beta1"' in err
    assert "nothing was started" in err
