"""The bundled examples do what their comments say, run through ``hitless up`` as a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def up(tmp_path: Path, *files: str, duration: float = 1.0) -> tuple[int, list[dict[str, Any]], Path]:
    log_dir = tmp_path / "logs"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "hitless",
            "up",
            *files,
            "-o",
            "jsonl",
            "--duration",
            str(duration),
            "--log-dir",
            str(log_dir),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    return proc.returncode, [json.loads(line) for line in proc.stdout.splitlines()], log_dir


def last_pod(lines: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return [o for o in lines if o["kind"] == "Pod" and o["metadata"]["name"] == name][-1]


def stdout_lines(log_dir: Path, pod: str) -> list[str]:
    """What the pod's containers wrote on stdout (CRI log lines: time, stream, tag, text)."""
    lines = []
    for path in log_dir.glob(f"default_{pod}_*/*/*.log"):
        for line in path.read_text().splitlines():
            _, stream, _, text = line.split(" ", 3)
            if stream == "stdout":
                lines.append(text)
    return lines


def test_web_example_runs_and_drains(tmp_path: Path) -> None:
    code, lines, _ = up(tmp_path, "examples/web.yaml", duration=2)
    assert code == 0
    for name in ("web-1", "web-2"):
        pods = [o for o in lines if o["kind"] == "Pod" and o["metadata"]["name"] == name]
        assert any(p["status"].get("phase") == "Running" for p in pods)
        final = pods[-1]["status"]["containerStatuses"][0]["state"]["terminated"]
        assert final["exitCode"] == 0 and final["reason"] == "Completed"


def test_shell_under_init_cleans_up_where_bare_shell_is_sigkilled(tmp_path: Path) -> None:
    code, lines, log_dir = up(
        tmp_path, "examples/init/shell-without-init.yaml", "examples/init/shell-under-init.yaml"
    )
    assert code == 0
    bare = last_pod(lines, "shell-without-init")["status"]["containerStatuses"][0]["state"]["terminated"]
    init = last_pod(lines, "shell-under-init")["status"]["containerStatuses"][0]["state"]["terminated"]
    # Without an init the shell ignores SIGTERM for the whole grace period (15 s), then SIGKILL.
    assert bare["exitCode"] == 137
    assert sorted(stdout_lines(log_dir, "shell-without-init")) == ["worker 1: serving", "worker 2: serving"]
    # Under hitless init both workers get SIGTERM and finish their cleanup; -e 143 maps to 0.
    assert init["exitCode"] == 0
    done = [
        line for line in stdout_lines(log_dir, "shell-under-init") if line.endswith("clean shutdown done")
    ]
    assert sorted(done) == ["worker 1: clean shutdown done", "worker 2: clean shutdown done"]
