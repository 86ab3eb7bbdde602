"""One meaning per exit code: an exception of any command is exit 3 with its traceback in a file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hitless.cli import main as dispatcher
from hitless.cli.errors import EXIT_CODES_HELP


def crash(*args: object, **kwargs: object) -> object:
    raise ValueError("injected fault")


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state" / "hitless"


def test_a_crash_of_check_is_exit_3_not_findings(
    tmp_path: Path, state: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import hitless.check.runner

    monkeypatch.setattr(hitless.check.runner, "run_check", crash)
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: x}]}\n"
    )
    assert dispatcher.main(["check", str(manifest)]) == 3
    captured = capsys.readouterr()
    assert captured.out == ""  # no report: no verdict
    lines = captured.err.splitlines()
    assert lines[0] == "hitless check: internal error: ValueError: injected fault"
    path = Path(re.fullmatch(r"hitless check: the traceback is in (.+)", lines[1]).group(1))  # type: ignore[union-attr]
    assert path.parent == state
    text = path.read_text()
    assert text.startswith("hitless check: internal error at ")
    assert "Traceback (most recent call last)" in text and "ValueError: injected fault" in text


def test_a_crash_of_init_before_its_command_runs_is_exit_3(
    state: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import hitless.init.main

    monkeypatch.setattr(hitless.init.main, "parse", crash)
    assert dispatcher.main(["init", "--", "true"]) == 3
    assert "hitless init: internal error: ValueError: injected fault" in capsys.readouterr().err
    assert len(list(state.glob("crash-init-*.txt"))) == 1


def test_no_writable_place_prints_the_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_STATE_HOME", str(blocker))  # a file: no directory can be made in it
    import tempfile

    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(blocker))
    import hitless.check.runner

    monkeypatch.setattr(hitless.check.runner, "run_check", crash)
    assert dispatcher.main(["check", "-"]) == 3
    err = capsys.readouterr().err
    assert "no file could be written for the traceback" in err
    assert "ValueError: injected fault" in err


def test_ctrl_c_before_a_run_is_130_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(argv: list[str]) -> int:
        raise KeyboardInterrupt

    monkeypatch.setitem(dispatcher.COMMANDS, "up", interrupted)
    assert dispatcher.main(["up", "x.yaml"]) == 130
    assert capsys.readouterr().err == "hitless up: interrupted\n"


@pytest.mark.parametrize("command", ["up", "verify", "check"])
def test_every_commands_help_states_the_exit_codes(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        dispatcher.main([command, "--help"])
    assert exited.value.code == 0
    assert " ".join(EXIT_CODES_HELP.split()) in " ".join(capsys.readouterr().out.split())


def test_init_help_and_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert dispatcher.main(["init", "--help"]) == 0
    assert "2 on a usage error; 3 on an internal error" in " ".join(capsys.readouterr().out.split())
    assert dispatcher.main(["init", "--no-such-flag"]) == 2
    assert dispatcher.main(["no-such-command"]) == 2
