"""``hitless init`` as PID 1 of a real PID namespace (unshare), signalled from outside as a runtime would.

From here the namespace's PID 1 is unshare's child; signals go to that pid. A PID 1 without a
handler ignores SIGTERM from outside its namespace, which is the whole point of these tests.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from .helpers import Proc, alive, children_of, lines, stat_fields, wait_until


def _ready(out: str, *names: str) -> Callable[[], bool]:
    return lambda: all(f"{name} ready" in lines(Path(out)) for name in names)


def _ts(event: dict[str, str]) -> float:
    return datetime.strptime(event["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def test_shell_as_pid1_loses_the_childs_cleanup(start: Callable[..., Proc], scripts: dict[str, str]) -> None:
    out = scripts["out"]
    shell = start(["sh", "-c", f"sh {scripts['worker']} w {out} & wait"], pidns=True, raw=True)
    wait_until(_ready(out, "w"), what="the worker")
    shell.signal(signal.SIGTERM)
    time.sleep(1.0)
    # PID 1 has no SIGTERM handler, so the kernel dropped the signal: nothing happened at all.
    assert shell.running()
    assert alive(shell.inner())
    assert lines(Path(out)) == ["w ready"]
    # The kubelet's answer after the grace period; the kernel then SIGKILLs the whole namespace.
    shell.signal(signal.SIGKILL)
    shell.wait()  # (unshare reports a child killed by a signal as plain failure)
    assert lines(Path(out)) == ["w ready"]


def test_child_gets_sigterm_cleans_up_and_init_exits_with_its_status(
    start: Callable[..., Proc], scripts: dict[str, str]
) -> None:
    out = scripts["out"]
    init = start(["-v", "--", "sh", scripts["worker"], "w", out, "0.3", "3"], pidns=True)
    wait_until(_ready(out, "w"), what="the worker")
    init.signal(signal.SIGTERM)
    assert init.wait() == 3
    assert lines(Path(out)) == ["w ready", "w got SIGTERM", "w clean shutdown done"]
    received = init.events("signal.received")
    assert received[0]["signal"] == "SIGTERM"
    assert received[0]["sender"] == "0"  # from outside the namespace
    assert init.events("signal.forward")[0]["target"] == "2"
    assert init.events("reap")[-1] == {**init.events("reap")[-1], "role": "child", "code": "3"}
    assert init.events("exit")[0]["code"] == "3"


@pytest.mark.parametrize(
    ("options", "cleanup_done"),
    [
        pytest.param([], False, id="plain: sh dies, init exits, kernel kills the worker"),
        pytest.param(["-g"], False, id="-g: group gets TERM, init exits with sh, worker killed"),
        pytest.param(["--grace", "5"], True, id="--grace: init passes TERM to the orphan and waits"),
        pytest.param(["-g", "--grace", "5"], True, id="-g --grace: init waits for the group"),
    ],
)
def test_shell_wrapper_under_init(
    start: Callable[..., Proc], scripts: dict[str, str], options: list[str], cleanup_done: bool
) -> None:
    out = scripts["out"]
    init = start(["-v", *options, "--", "sh", "-c", f"sh {scripts['worker']} w {out} 0.5 & wait"], pidns=True)
    wait_until(_ready(out, "w"), what="the worker")
    sent = time.monotonic()
    init.signal(signal.SIGTERM)
    assert init.wait() == 128 + signal.SIGTERM  # sh, the child, died of the TERM
    elapsed = time.monotonic() - sent
    assert ("w clean shutdown done" in lines(Path(out))) is cleanup_done
    if cleanup_done:
        assert 0.4 < elapsed < 4
        assert lines(Path(out)) == ["w ready", "w got SIGTERM", "w clean shutdown done"]
        orphan_reaps = [e for e in init.events("reap") if e["role"] == "orphan" and e["comm"] == "sh"]
        assert orphan_reaps and orphan_reaps[0]["code"] == "0"
    else:
        assert elapsed < 0.4


def test_process_group_reaches_the_whole_group(start: Callable[..., Proc], scripts: dict[str, str]) -> None:
    out = scripts["out"]
    # The parent shell survives its TERM (it has a handler) and waits for both workers.
    script = (
        f"trap 'echo parent got SIGTERM >> {out}' TERM; "
        f"sh {scripts['worker']} a {out} 0 & sh {scripts['worker']} b {out} 0 & wait; wait"
    )
    grouped = start(["-g", "--", "sh", "-c", script], pidns=True)
    wait_until(_ready(out, "a", "b"), what="the workers")
    grouped.signal(signal.SIGTERM)
    assert grouped.wait() == 0
    got = set(lines(Path(out)))
    assert {"parent got SIGTERM", "a got SIGTERM", "b got SIGTERM", "a clean shutdown done"} <= got

    Path(out).unlink()
    single = start(["--", "sh", "-c", script], pidns=True)
    wait_until(_ready(out, "a", "b"), what="the workers")
    single.signal(signal.SIGTERM)
    time.sleep(0.8)
    # Without -g only the shell hears it, and it just goes on waiting.
    assert single.running()
    assert set(lines(Path(out))) == {"a ready", "b ready", "parent got SIGTERM"}


def test_orphaned_grandchildren_are_reaped(start: Callable[..., Proc], scripts: dict[str, str]) -> None:
    out = scripts["out"]
    # Subshells that exit at once leave sleeps behind; they are re-parented to PID 1 and die there.
    script = f"(sleep 0.1 &); (sh -c 'sleep 0.2 &'); (sleep 0.1 &); echo main ready >> {out}; sleep 1.2"
    init = start(["-v", "--", "sh", "-c", script], pidns=True)
    wait_until(_ready(out, "main"), what="the main child")
    time.sleep(0.6)
    inner = init.inner()
    zombies = [pid for pid in children_of(inner) if (stat_fields(pid) or ["?"])[0] == "Z"]
    assert zombies == []
    assert init.wait() == 0
    orphans = [e for e in init.events("reap") if e["role"] == "orphan"]
    assert [e["comm"] for e in orphans] == ["sleep", "sleep", "sleep"]
    assert all(e["code"] == "0" for e in orphans)
    child_reap = [e for e in init.events("reap") if e["role"] == "child"]
    assert _ts(orphans[-1]) <= _ts(child_reap[0])


def test_grace_sigkills_a_descendant_that_ignores_sigterm(
    start: Callable[..., Proc], scripts: dict[str, str]
) -> None:
    out = scripts["out"]
    script = f"sh {scripts['ignorer']} {out} & sh {scripts['worker']} w {out} 0.2 & wait"
    init = start(["-v", "-g", "--grace", "1", "--", "sh", "-c", script], pidns=True)
    wait_until(_ready(out, "w", "ignorer"), what="the workloads")
    sent = time.monotonic()
    init.signal(signal.SIGTERM)
    assert init.wait() == 128 + signal.SIGTERM
    elapsed = time.monotonic() - sent
    assert 0.9 < elapsed < 4
    assert "w clean shutdown done" in lines(Path(out))
    assert init.events("grace.expired")
    kill = init.events("kill")
    assert kill and kill[0]["signal"] == "SIGKILL"
    killed = [e for e in init.events("reap") if e["status"] == "killed by SIGKILL"]
    assert {e["comm"] for e in killed} >= {"sh"}
    # The worker finished before the deadline; the SIGKILL came after it.
    worker_reap = next(e for e in init.events("reap") if e["role"] == "orphan" and e["code"] == "0")
    assert _ts(worker_reap) <= _ts(init.events("grace.expired")[0])


def test_delay_stop_holds_the_signal_back(start: Callable[..., Proc], scripts: dict[str, str]) -> None:
    out = scripts["out"]
    init = start(["-v", "--delay-stop", "1", "--", "sh", scripts["worker"], "w", out, "0"], pidns=True)
    wait_until(_ready(out, "w"), what="the worker")
    sent = time.monotonic()
    init.signal(signal.SIGTERM)
    time.sleep(0.6)
    assert lines(Path(out)) == ["w ready"]  # still serving
    wait_until(lambda: "w got SIGTERM" in lines(Path(out)), timeout=4, what="the delayed TERM")
    assert time.monotonic() - sent >= 0.95
    assert init.wait() == 0
    received = _ts(init.events("signal.received")[0])
    forwarded = _ts(init.events("signal.forward")[0])
    assert 0.95 <= forwarded - received < 2.5
    assert init.events("stop.delayed")[0]["delay"] == "1.0"


def test_second_stop_signal_ends_the_delay(start: Callable[..., Proc], scripts: dict[str, str]) -> None:
    out = scripts["out"]
    init = start(["-v", "--delay-stop", "30", "--", "sh", scripts["worker"], "w", out, "0"], pidns=True)
    wait_until(_ready(out, "w"), what="the worker")
    init.signal(signal.SIGTERM)
    time.sleep(0.3)
    assert lines(Path(out)) == ["w ready"]
    init.signal(signal.SIGTERM)
    assert init.wait(timeout=5) == 0
    assert "w got SIGTERM" in lines(Path(out))


def test_stop_orphans_when_the_child_exits_by_itself(
    start: Callable[..., Proc], scripts: dict[str, str]
) -> None:
    out = scripts["out"]
    script = f"sh {scripts['worker']} w {out} 0.3 & sleep 0.5"
    plain = start(["--", "sh", "-c", script], pidns=True)
    assert plain.wait() == 0
    assert "w got SIGTERM" not in lines(Path(out))  # tini's way: the kernel SIGKILLed it

    Path(out).unlink()
    stopping = start(["-v", "--stop-orphans", "--grace", "5", "--", "sh", "-c", script], pidns=True)
    assert stopping.wait() == 0
    assert lines(Path(out)) == ["w ready", "w got SIGTERM", "w clean shutdown done"]
    assert stopping.events("stop.orphans")[0]["signal"] == "SIGTERM"


def test_grace_reaches_a_worker_that_left_the_group(
    start: Callable[..., Proc], scripts: dict[str, str]
) -> None:
    """-g signals CMD's process group; a worker that called setsid() is not in it (dumb-init
    #191). Once the shell is gone the worker is an orphan of the init, which passes the TERM on."""
    out = scripts["out"]
    script = f"setsid sh {scripts['worker']} escapee {out} 0.3 & sh {scripts['worker']} w {out} 0.3 & wait"
    init = start(["-v", "-g", "--grace", "5", "--", "sh", "-c", script], pidns=True)
    wait_until(_ready(out, "escapee", "w"), what="the workers")
    init.signal(signal.SIGTERM)
    assert init.wait() == 128 + signal.SIGTERM
    got = lines(Path(out))
    assert got.count("escapee got SIGTERM") == got.count("w got SIGTERM") == 1
    assert {"escapee clean shutdown done", "w clean shutdown done"} <= set(got)
    # Only the escapee needed the init's help: w had its TERM from the group forward.
    assert init.events("stop.orphans")[0]["comms"] == "sh"
    assert len(init.events("stop.orphans")[0]["pids"].split(",")) == 1


def test_a_storm_of_exits_is_reaped(start: Callable[..., Proc], tmp_path: Path) -> None:
    """Hundreds of children and orphans exiting together: SIGCHLDs coalesce, the reaping must
    not miss one, and the exit status is still the child's."""
    done = tmp_path / "storm-done"
    script = f"for i in $(seq 150); do (true &); true & done; wait; touch {done}; sleep 0.3; exit 5"
    init = start(["-v", "--", "sh", "-c", script], pidns=True)
    wait_until(done.exists, what="the storm")
    time.sleep(0.1)
    inner = init.inner()
    assert [pid for pid in children_of(inner) if (stat_fields(pid) or ["?"])[0] == "Z"] == []
    assert init.wait() == 5
    reaps = init.events("reap")
    # Each `true` ends up reaped by the init (directly, or as its dead subshell's zombie),
    # unless its subshell happened to reap it first.
    assert 100 < sum(e["role"] == "orphan" for e in reaps) <= 150
    assert reaps[-1]["role"] == "child"
    assert init.events("exit")[0]["leftovers"] == "0"
