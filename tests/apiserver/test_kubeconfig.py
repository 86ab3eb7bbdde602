"""The run's kubeconfig: merged into the user's (and taken out at exit) or written on its own."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hitless.apiserver import certs
from hitless.apiserver.kubeconfig import Kubeconfig

CREDS = certs.generate()


def test_merged_into_the_first_kubeconfig_path_and_taken_out_at_exit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine, other = tmp_path / "config", tmp_path / "other"
    existing = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kind-dev", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": "kind-dev", "user": {"token": "t"}}],
        "contexts": [{"name": "kind-dev", "context": {"cluster": "kind-dev", "user": "kind-dev"}}],
        "current-context": "kind-dev",
    }
    mine.write_text(yaml.safe_dump(existing))
    monkeypatch.setenv("KUBECONFIG", f"{mine}:{other}")
    kc = Kubeconfig.write("https://127.0.0.1:41000", CREDS)
    assert kc.path == mine and kc.merged
    merged = yaml.safe_load(mine.read_text())
    assert merged["current-context"] == "hitless"
    assert [c["name"] for c in merged["contexts"]] == ["kind-dev", "hitless"]
    hitless = next(c for c in merged["clusters"] if c["name"] == "hitless")
    assert hitless["cluster"]["server"] == "https://127.0.0.1:41000"
    assert hitless["cluster"]["certificate-authority-data"]
    assert (mine.stat().st_mode & 0o777) == 0o600
    assert not other.exists()
    kc.remove()
    assert yaml.safe_load(mine.read_text()) == existing


def test_a_kubeconfig_of_its_own_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "untouched"))
    path = tmp_path / "hitless.kubeconfig"
    kc = Kubeconfig.write("https://127.0.0.1:41000", CREDS, path)
    kc.remove()
    config = yaml.safe_load(path.read_text())
    assert config["current-context"] == "hitless" and config["users"][0]["name"] == "hitless"
    assert not (tmp_path / "untouched").exists()
