"""Pure parts of ``hitless init``: options, signal names, logfmt, /proc parsing, and its import cost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from hitless.init import sig
from hitless.init.log import Log, describe_status
from hitless.init.main import main
from hitless.init.options import DEFAULT_STOP_SIGNALS, UsageError, parse
from hitless.init.procs import Proc, descendants, parse_stat

from .helpers import parse_logfmt


def test_parse_tini_style_command_lines() -> None:
    opts = parse(["-sgvv", "-e143", "-e", "7", "--", "app", "-v"], {})
    assert (opts.subreaper, opts.process_group, opts.verbosity) == (True, True, 2)
    assert opts.remap_exit == {143, 7}
    assert opts.command == ["app", "-v"]
    # The command starts at the first non-option even without "--".
    assert parse(["-v", "app", "-g"], {}).command == ["app", "-g"]


def test_parse_long_options() -> None:
    opts = parse(
        [
            "--grace",
            "10",
            "--delay-stop=2.5",
            "--stop-signals",
            "term,SIGUSR2",
            "--stop-orphans",
            "--process-group",
            "--subreaper",
            "--remap-exit=1",
            "--",
            "x",
        ],
        {},
    )
    assert opts.grace == 10.0
    assert opts.delay_stop == 2.5
    assert opts.stop_signals == {signal.SIGTERM, signal.SIGUSR2}
    assert opts.stop_orphans and opts.process_group and opts.subreaper
    assert opts.remap_exit == {1}


def test_defaults_and_environment() -> None:
    opts = parse(["x"], {})
    assert opts.grace is None and opts.delay_stop == 0 and not opts.subreaper and not opts.process_group
    assert opts.stop_signals == DEFAULT_STOP_SIGNALS == {signal.SIGTERM, signal.SIGINT, signal.SIGQUIT}
    env = parse(["x"], {"TINI_SUBREAPER": "", "TINI_KILL_PROCESS_GROUP": "1", "TINI_VERBOSITY": "3"})
    assert env.subreaper and env.process_group and env.verbosity == 2  # tini's 3 is -vv


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "no command"),
        (["--"], "no command"),
        (["-x", "--", "a"], "unknown option -x"),
        (["--nope", "a"], "unknown option --nope"),
        (["--grace", "-1", "a"], "must be a finite number"),
        (["--grace", "soon", "a"], "not a number"),
        (["--grace"], "needs a value"),
        (["-e", "256", "a"], "not an exit code"),
        (["-e"], "needs a value"),
        (["--stop-signals", "KILL", "a"], "cannot be stop signals"),
        (["--stop-signals", "NOPE", "a"], "no such signal"),
        (["--stop-orphans", "a"], "needs --grace"),
        (["--subreaper=yes", "a"], "takes no value"),
    ],
)
def test_usage_errors(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse(argv, {})


def test_main_help_version_and_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "--grace SECONDS" in capsys.readouterr().out
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("hitless init ")
    assert main(["--grace"]) == 2
    assert "needs a value" in capsys.readouterr().err


def test_signal_names_without_enum() -> None:
    for member in signal.Signals:
        if member.name not in ("SIGIOT", "SIGCLD", "SIGPOLL"):
            assert sig.name(member.value) == member.name
            assert sig.parse(member.name[3:].lower()) == member.value
    assert sig.name(signal.SIGRTMIN + 3) == "SIGRTMIN+3"
    assert sig.parse("RTMIN+3") == signal.SIGRTMIN + 3
    assert sig.parse("15") == 15
    assert sig.parse("IOT") == signal.SIGABRT
    assert sig.valid_signals() == {int(s) for s in signal.valid_signals()}


def test_logfmt_lines(tmp_path: object) -> None:

    read, write = os.pipe()
    log = Log(1, fd=write)
    log.event(1, "reap", pid=12, comm="my app", status=describe_status(143, 15), skipped=None)
    log.event(2, "too.verbose")
    log.warn("w", 'say "hi"\n')
    os.close(write)
    text = os.read(read, 65536).decode()
    os.close(read)
    first, second = text.splitlines()
    fields = parse_logfmt(first)
    assert (
        fields["event"] == "reap" and fields["comm"] == "my app" and fields["status"] == "killed by SIGTERM"
    )
    assert fields["level"] == "info" and fields["logger"] == "hitless-init" and fields["ts"].endswith("Z")
    assert "skipped" not in fields
    assert parse_logfmt(second)["msg"] == 'say "hi"\n'


def test_log_survives_a_closed_stderr() -> None:

    read, write = os.pipe()
    os.close(read)
    log = Log(1, fd=write)
    log.event(1, "x")  # EPIPE (SIGPIPE is ignored by Python): logging turns itself off
    assert not log.enabled(1)
    os.close(write)


def test_parse_stat_with_awkward_names() -> None:
    # A real line (52 fields), with a comm that holds spaces and parentheses.
    line = (
        "42 (a) b (c)) S 1 42 40 0 -1 4194560 120 0 0 0 0 0 0 0 20 0 1 0 987654 2355200 214 "
        "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
    )
    proc = parse_stat(line)
    assert (proc.pid, proc.comm, proc.state, proc.ppid, proc.pgid) == (42, "a) b (c)", "S", 1, 42)
    assert (proc.session, proc.starttime) == (40, 987654)
    with open("/proc/self/stat") as f:
        own = parse_stat(f.read())
    assert (own.pid, own.ppid, own.state) == (os.getpid(), os.getppid(), "R")
    assert own.session == os.getsid(0) and own.starttime > 0


def test_descendants_walk_parent_links() -> None:
    procs = [
        Proc(1, "init", "S", 0, 1),
        Proc(2, "sh", "S", 1, 2),
        Proc(3, "worker", "S", 2, 2),
        Proc(4, "setsid-escapee", "S", 3, 4),  # left the group, not the tree
        Proc(5, "elsewhere", "S", 99, 5),
    ]
    assert [p.pid for p in descendants(1, procs)] == [2, 3, 4]
    assert [p.pid for p in descendants(3, procs)] == [4]
    # A scan is not atomic: with pid reuse, two processes can look like each other's parent.
    racy = [Proc(7, "a", "S", 8, 7), Proc(8, "b", "S", 7, 8), Proc(9, "c", "S", 7, 9)]
    assert sorted(p.pid for p in descendants(7, racy)) == [8, 9]


FORBIDDEN = (
    "asyncio",
    "pydantic",
    "typing",
    "enum",
    "json",
    "subprocess",
    "argparse",
    "ctypes",
    "dataclasses",
    "inspect",
    "hitless.api",
    "hitless.runtime",
    "hitless.kubelet",
    "yaml",
)


def test_imports_stay_minimal() -> None:
    """What `hitless init` imports beyond the dispatcher (run without pip's `import re` wrapper)."""
    code = "import sys; from hitless.cli.main import main; main(sys.argv[1:])"
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code, "init", "--", "true"],
        capture_output=True,
        text=True,
        check=True,
    )
    modules = {
        line.split("|")[2].strip() for line in result.stderr.splitlines() if line.startswith("import time:")
    }
    assert "hitless.init.main" in modules
    loaded = sorted(m for m in modules if any(m == f or m.startswith(f + ".") for f in FORBIDDEN))
    assert loaded == []
    with_subreaper = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code, "init", "-s", "--", "true"],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded_by_s = {
        line.split("|")[2].strip()
        for line in with_subreaper.stderr.splitlines()
        if line.startswith("import time:")
    }
    # Only -s pays for prctl, and only for the C module under ctypes, not ctypes itself.
    assert "_ctypes" in loaded_by_s and "_ctypes" not in modules
    assert "ctypes" not in loaded_by_s
