"""``hitless init`` outside a PID namespace: subreaper mode, exit codes, forwarding, the terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import signal
import termios
import time
from collections.abc import Callable
from pathlib import Path

from .helpers import Proc, alive, children_of, lines, wait_until


def test_exit_status_is_the_childs(start: Callable[..., Proc]) -> None:
    assert start(["--", "sh", "-c", "exit 7"]).wait() == 7
    assert start(["--", "sh", "-c", "kill -KILL $$"]).wait() == 128 + signal.SIGKILL


def test_command_that_cannot_run(start: Callable[..., Proc], tmp_path: Path) -> None:
    missing = start(["--", str(tmp_path / "missing")])
    assert missing.wait() == 127
    assert "cannot run" in missing.stderr
    assert start(["--", str(tmp_path)]).wait() == 126  # a directory: found, not runnable


def test_remap_exit_code(start: Callable[..., Proc], tmp_path: Path) -> None:
    plain = start(["--", "sleep", "30"])
    remapped = start(["-e", "143", "-e", "7", "--", "sleep", "30"])
    wait_until(lambda: children_of(plain.pid) and children_of(remapped.pid), what="the sleeps")
    plain.signal(signal.SIGTERM)
    remapped.signal(signal.SIGTERM)
    assert plain.wait() == 143
    assert remapped.wait() == 0
    assert start(["-e143", "--", "sh", "-c", "exit 9"]).wait() == 9  # only the listed codes


def test_warns_when_neither_pid1_nor_subreaper(start: Callable[..., Proc]) -> None:
    plain = start(["--", "true"])
    assert plain.wait() == 0
    assert "event=not.reaper" in plain.stderr
    reaper = start(["-s", "--", "true"])
    assert reaper.wait() == 0
    assert "not.reaper" not in reaper.stderr
    from_env = start(["--", "true"], env={"TINI_SUBREAPER": ""})
    assert from_env.wait() == 0
    assert "not.reaper" not in from_env.stderr


def test_subreaper_adopts_and_reaps_orphans(start: Callable[..., Proc], tmp_path: Path) -> None:
    out = tmp_path / "out"
    script = f"(sleep 0.6 &); (sh -c 'sleep 0.7 &'); echo ready >> {out}; sleep 1.2"
    init = start(["-s", "-v", "--", "sh", "-c", script])
    wait_until(lambda: lines(out) == ["ready"], what="the child")
    time.sleep(0.2)
    adopted = [
        pid for pid in children_of(init.pid) if Path(f"/proc/{pid}/comm").read_text().strip() == "sleep"
    ]
    assert len(adopted) == 2  # both orphans came to the init, not to the machine's PID 1
    assert init.wait() == 0
    orphans = [e for e in init.events("reap") if e["role"] == "orphan"]
    assert sorted(int(e["pid"]) for e in orphans) == sorted(adopted)
    assert init.events("spawn")[0]["mode"] == "subreaper"


def test_subreaper_grace_kills_what_ignores_sigterm(start: Callable[..., Proc], tmp_path: Path) -> None:
    """Outside a namespace nothing kills the leftovers for us: the init's own SIGKILL must."""
    pidfile = tmp_path / "ignorer.pid"
    ignorer = f"trap '' TERM; echo \\$\\$ > {pidfile}; while :; do sleep 0.05; done"
    init = start(["-s", "-v", "--grace", "0.5", "--", "sh", "-c", f'sh -c "{ignorer}" & wait'])
    wait_until(pidfile.exists, what="the ignorer")
    ignorer_pid = int(pidfile.read_text())
    init.signal(signal.SIGTERM)
    assert init.wait() == 143
    assert not alive(ignorer_pid)
    assert init.events("stop.orphans")[0]["pids"] == str(ignorer_pid)
    assert str(ignorer_pid) in init.events("kill")[0]["pids"].split(",")


def test_forwards_other_signals_and_only_stop_signals_arm_the_grace(
    start: Callable[..., Proc], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    script = (
        f"trap 'echo HUP >> {out}' HUP; trap 'echo USR1 >> {out}' USR1; trap 'echo WINCH >> {out}' WINCH; "
        f"echo ready >> {out}; while :; do sleep 0.05; done"
    )
    init = start(["-v", "--grace", "0.3", "--", "sh", "-c", script])
    wait_until(lambda: lines(out) == ["ready"], what="the child")
    for sig in (signal.SIGHUP, signal.SIGUSR1, signal.SIGWINCH):
        init.signal(sig)
        wait_until(lambda sig=sig: sig.name[3:] in lines(out), what=sig.name)  # type: ignore[misc]
    time.sleep(0.6)
    assert init.running()  # HUP is a reload, not a stop: no SIGKILL countdown
    assert not init.events("grace.start")
    init.signal(signal.SIGTERM)
    assert init.wait() == 143
    forwarded = [e["signal"] for e in init.events("signal.forward")]
    assert forwarded == ["SIGHUP", "SIGUSR1", "SIGWINCH", "SIGTERM"]


def _take_tty(fd: int) -> None:
    os.setsid()
    fcntl.ioctl(fd, termios.TIOCSCTTY, 0)


def test_child_takes_the_terminal(start: Callable[..., Proc], tmp_path: Path) -> None:
    """With a terminal on stdin the child's group becomes its foreground group (tini's tcsetpgrp)."""
    primary, secondary = pty.openpty()
    try:
        # The child prints its pgrp and the terminal's foreground pgrp (fields 5 and 8 of stat).
        script = "cut -d' ' -f5,8 /proc/$$/stat"
        init = start(
            ["--", "sh", "-c", script],
            stdin=secondary,
            # A session of its own with the pty as controlling terminal, as a container runtime
            # gives a PID 1 started with a tty.
            start_new_session=False,
            preexec_fn=lambda: _take_tty(secondary),
        )
        assert init.wait() == 0
        pgrp, tpgid = init.stdout.split()
        assert pgrp == tpgid
        assert int(pgrp) != init.pid
    finally:
        os.close(primary)
        os.close(secondary)


def test_own_sigpipe_is_not_forwarded(tmp_path: Path) -> None:
    """-v logging into a closed pipe: the init's own SIGPIPE must not reach (and kill) the child."""
    import subprocess

    from .helpers import HITLESS

    out = tmp_path / "out"
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.Popen(
            [HITLESS, "init", "-vv", "--", "sh", "-c", f"sleep 0.3; echo done > {out}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=write,
        )
    finally:
        os.close(write)
    try:
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert lines(out) == ["done"]


def test_children_start_from_the_kernels_default_dispositions(tmp_path: Path) -> None:
    # A pytest run with SIGHUP ignored (nohup) must not pass the ignore to the commands under
    # test: a shell cannot trap a signal ignored on entry, and the HUP forwarding test would fail.
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
    try:
        proc = Proc(["grep", "-E", "^Sig(Ign|Blk):", "/proc/self/status"], tmp_path, pidns=False)
        assert proc.wait() == 0
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        signal.signal(signal.SIGHUP, previous)
    masks = dict(line.split(":\t") for line in proc.stdout.splitlines())
    assert int(masks["SigIgn"], 16) == 0 and int(masks["SigBlk"], 16) == 0, masks
