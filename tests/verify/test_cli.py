"""``hitless verify``'s refusals: bad input exits 2 with a message that names what is wrong, before
the engine (its PID namespace, its processes) is started. In-process: each returns at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from hitless.cli import verify
from hitless.verify import local

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = str(ROOT / "examples" / "zero-downtime.yaml")

POD = """apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec: {containers: [{name: web, image: hitless, args: [demo-app]}]}
"""


def service(name: str, selector: str = "{app: web}", extra: str = "") -> str:
    return (
        f"---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\n"
        f"spec: {{selector: {selector}, ports: [{{port: 80, targetPort: 8080}}]{extra}}}\n"
    )


@pytest.fixture(autouse=True)
def never_start_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse() -> None:
        raise AssertionError("bad input must be refused before the engine starts")

    monkeypatch.setattr(local, "enter_engine_namespaces", refuse)


def refusal(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert verify.main(list(argv)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--rps", "0"], "--rps must be a finite number greater than 0 (got 0)"),
        (["--rps", "inf"], "--rps must be a finite number greater than 0 (got inf)"),
        (["--repeat", "0"], "--repeat must be at least 1 (got 0)"),
        (["--max-failures", "-1"], "--max-failures must be 0 or more (got -1)"),
        (["--propagation-delay", "-1"], "--propagation-delay must be 0 or more (got -1)"),
        (["--path", "healthz"], "--path must start with / (got 'healthz')"),
        (["--lb-preset", "nope"], "unknown --lb-preset 'nope' (known: gce, aws-nlb)"),
    ],
)
def test_bad_flag_values_are_named(
    capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    assert message in refusal(capsys, EXAMPLE, *flags)


def test_an_unknown_scenario_is_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        verify.main([EXAMPLE, "--scenario", "nope"])
    assert exit_.value.code == 2
    assert "argument --scenario: invalid choice: 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("manifest", "flags", "message"),
    [
        (POD, [], "no Service to load in the manifests"),
        (POD + service("a") + service("b"), [], "2 Services in the manifests (a, b): name the one"),
        (
            POD + service("a") + service("b"),
            ["--service", "zzz"],
            'services "zzz" not found (the manifests have: a, b)',
        ),
        (POD + service("a", "{app: other}"), [], 'Service "a" selects no Deployment or Pod of the manifests'),
        (POD + service("a", extra=", clusterIP: None"), [], 'Service "a" is headless (clusterIP: None)'),
        (POD + service("a"), [], '--scenario rollout needs a Deployment behind Service "a"'),
    ],
)
def test_the_service_to_load_must_be_one_that_serves(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, manifest: str, flags: list[str], message: str
) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(manifest)
    assert message in refusal(capsys, str(path), *flags)


def test_manifest_errors_name_file_line_and_field(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(POD.replace("labels: {app: web}", "labels: {app: web}, lables: {}") + service("web"))
    err = refusal(capsys, str(path), "--scenario", "delete-pod")
    assert (
        f'{path}:3: Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field '
        in err
    )
    assert '"metadata.lables"' in err and "nothing was started" in err
    assert f'the path "{tmp_path / "missing.yaml"}" does not exist' in refusal(
        capsys, str(tmp_path / "missing.yaml")
    )


def test_a_report_dir_that_cannot_be_written_is_refused_before_the_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    err = refusal(capsys, EXAMPLE, "--report", str(blocker / "report"))
    assert f"--report {blocker / 'report'}: Not a directory" in err
