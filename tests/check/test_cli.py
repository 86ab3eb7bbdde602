from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from hitless.cli.main import main

from .helpers import ROOT, SEED


def test_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(ROOT / "examples" / "zero-downtime.yaml")]) == 0
    assert main(["check", str(SEED)]) == 1
    assert main(["check", str(tmp_path / "missing.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_stdin_and_parameters(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO((ROOT / "examples" / "zero-downtime.yaml").read_text()))
    assert main(["check", "-", "--format", "json", "--propagation-delay", "5", "--lb-preset", "aws-nlb"]) == 1
    findings = json.loads(capsys.readouterr().out)
    (f,) = [f for f in findings if f["rule"] == "prestop-propagation"]
    assert f["file"] == "STDIN" and f["numbers"]["uncovered_s"] == 2


def test_list_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--list-rules"]) == 0
    assert "prestop-propagation" in capsys.readouterr().out
