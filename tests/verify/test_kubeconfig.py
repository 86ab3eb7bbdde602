"""Which cluster cluster mode talks to: ``--kubeconfig PATH``; a bare ``--kubeconfig`` or
``--context NAME`` alone reads ``$KUBECONFIG`` (a list, merged as kubectl merges it) or
``~/.kube/config``; without either flag the run is local whatever the environment says."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hitless.cli import verify as verify_cli
from hitless.kube.config import load_kubeconfig

ROOT = Path(__file__).resolve().parents[2]


def _config(path: Path, current: str, contexts: dict[str, str]) -> Path:
    """A kubeconfig with one cluster, user and context per entry of ``contexts`` (name: server)."""
    lines = ["apiVersion: v1", "kind: Config", f"current-context: {current}", "clusters:"]
    for name, server in contexts.items():
        lines += [
            f"- name: {name}",
            "  cluster:",
            f"    server: {server}",
            "    insecure-skip-tls-verify: true",
        ]
    lines.append("users:")
    for name in contexts:
        lines += [f"- name: {name}", "  user:", f"    token: token-{name}"]
    lines.append("contexts:")
    for name in contexts:
        lines += [f"- name: {name}", "  context:", f"    cluster: {name}", f"    user: {name}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_kubeconfig_lists_merge_as_kubectl_merges_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _config(tmp_path / "a", "staging", {"staging": "https://127.0.0.1:6441"})
    second = _config(
        tmp_path / "b",
        "prod",
        {"prod": "https://127.0.0.1:6442", "staging": "https://127.0.0.1:6449"},
    )
    missing = tmp_path / "missing"
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(missing), str(first), str(second)]))
    # client-go's rules: the first file to set current-context wins, and so does the first to
    # name a context; a missing file in the list is skipped.
    current = load_kubeconfig(None, None)
    assert current.host == "https://127.0.0.1:6441"
    assert current.headers == {"Authorization": "Bearer token-staging"}
    assert load_kubeconfig(None, "prod").host == "https://127.0.0.1:6442"
    # An explicit path is that file alone.
    assert load_kubeconfig(str(second), None).host == "https://127.0.0.1:6442"
    with pytest.raises(Exception, match="no such file"):
        load_kubeconfig(str(missing), None)


def test_cluster_mode_is_chosen_on_the_command_line_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path / "config", "here", {"here": "https://127.0.0.1:9"})
    monkeypatch.setenv("KUBECONFIG", str(config))
    manifest = str(ROOT / "examples/zero-downtime.yaml")
    parser = verify_cli.build_parser()
    # $KUBECONFIG alone does not make a run a cluster run.
    plain = parser.parse_args([manifest])
    assert plain.kubeconfig is None and plain.context is None
    assert parser.parse_args([manifest, "--kubeconfig"]).kubeconfig == ""
    # --context alone is cluster mode with $KUBECONFIG: that context is looked up there (exit 2,
    # before anything is touched, naming the files read).
    assert verify_cli.main([manifest, "--context", "elsewhere"]) == 2
    err = capsys.readouterr().err
    assert f"kubeconfig {config}" in err and "elsewhere" in err
    # A bare --kubeconfig is $KUBECONFIG's cluster: nothing listens on port 9 (exit 2 at /version).
    assert verify_cli.main([manifest, "--kubeconfig"]) == 2
    assert "https://127.0.0.1:9/version" in capsys.readouterr().err
