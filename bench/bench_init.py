"""Benchmark ``hitless init`` beside tini and dumb-init: start-up overhead and memory.

    .venv/bin/python bench/bench_init.py [--runs N] [--sleep-runs N]

Start-up: the wall time of ``INIT -- /bin/true`` (spawned with subprocess.run, the median of N
runs, commands interleaved so that machine noise hits all of them alike) minus that of a bare
``/bin/true``. Memory: VmRSS and Pss of the init process while its child is ``sleep``.

Peers that are not installed (``apt-get install -y tini dumb-init``) are skipped.

hitless is measured through the ``hitless`` console script with byte-code caches (how an image
that ran ``compileall`` starts it, the target case) and with the environment inherited as is
(in a checkout with PYTHONDONTWRITEBYTECODE=1, compiling hitless's modules on every start); then
through launchers that skip the console script's ``import re``: ``python -m hitless`` and a
one-line ``python -c`` (the floor for a Python init, next to ``python -c pass``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_OVERHEAD_MS = 30.0
TARGET_RSS_MB = 15.0


class Case:
    def __init__(
        self, name: str, prefix: list[str], env: dict[str, str] | None, is_hitless: bool, memory: bool = True
    ) -> None:
        self.name = name
        self.prefix = prefix
        self.env = env
        self.is_hitless = is_hitless
        # False for commands that do not stay up while their argument runs.
        self.memory = memory
        self.times: list[float] = []


_LAUNCHER = "import sys; from hitless.cli.main import main; sys.exit(main())"


def _hitless_command() -> list[str]:
    script = Path(sys.executable).parent / "hitless"
    if script.exists():
        return [str(script)]
    found = shutil.which("hitless")
    if found:
        return [found]
    return [sys.executable, "-m", "hitless"]


def build_cases(pyc_dir: str) -> list[Case]:
    cached_env = dict(os.environ)
    cached_env.pop("PYTHONDONTWRITEBYTECODE", None)
    cached_env["PYTHONPYCACHEPREFIX"] = pyc_dir
    hitless = _hitless_command()
    cases = [Case("/bin/true (bare exec)", [], None, False)]
    if shutil.which("tini"):
        cases.append(Case("tini --", ["tini", "--"], None, False))
    else:
        print("tini not installed: skipped (apt-get install -y tini)", file=sys.stderr)
    if shutil.which("dumb-init"):
        cases.append(Case("dumb-init", ["dumb-init"], None, False))
    else:
        print("dumb-init not installed: skipped (apt-get install -y dumb-init)", file=sys.stderr)
    cases += [
        Case("hitless init --", [*hitless, "init", "--"], cached_env, True),
        Case("hitless init -s --", [*hitless, "init", "-s", "--"], cached_env, True),
        Case("hitless init -- (env as is)", [*hitless, "init", "--"], None, True),
        # The console script pip writes starts with `import re` (plus enum, ~10 ms here); this is
        # the same dispatcher behind a launcher that does not.
        Case(
            "hitless init -- (no-re launcher)",
            [sys.executable, "-c", _LAUNCHER, "init", "--"],
            cached_env,
            True,
        ),
        # What an image can use instead of the console script: no `re`, runpy instead.
        Case("python -m hitless init --", [sys.executable, "-m", "hitless", "init", "--"], cached_env, True),
        Case("python -c pass (floor)", [sys.executable, "-c", "pass", "--"], cached_env, False, memory=False),
    ]
    return cases


def _run_once(case: Case, command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([*case.prefix, *command], env=case.env, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def measure_startup(cases: list[Case], runs: int) -> None:
    for case in cases:  # warm-up: fills the byte-code cache and the page cache
        for _ in range(3):
            _run_once(case, ["/bin/true"])
    for _ in range(runs):
        for case in cases:
            case.times.append(_run_once(case, ["/bin/true"]))


def _status_kb(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _pss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _child_of(pid: int) -> int | None:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                return int(entry)
    return None


def _comm(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def measure_memory(case: Case, samples: int) -> tuple[float, float] | None:
    """Median (RSS MB, PSS MB) of the init while it runs ``sleep``; for the bare case, of sleep."""
    rss: list[int] = []
    pss: list[int] = []
    for _ in range(samples):
        proc = subprocess.Popen([*case.prefix, "sleep", "30"], env=case.env, stderr=subprocess.DEVNULL)
        child = None
        try:
            deadline = time.monotonic() + 5
            # Measured once the init has spawned its child, i.e. is in its steady state.
            while case.prefix and child is None and time.monotonic() < deadline:
                child = _child_of(proc.pid)
                time.sleep(0.01)
            time.sleep(0.1)
            r, p = _status_kb(proc.pid, "VmRSS"), _pss_kb(proc.pid)
            if r is not None and p is not None:
                rss.append(r)
                pss.append(p)
        finally:
            # SIGTERM, which every init forwards, so that the sleep goes too; SIGKILL would
            # leave it orphaned (none of them is PID 1 or a subreaper here).
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if child is not None and _comm(child) == "sleep":
                os.kill(child, 9)
    if not rss:
        return None
    return statistics.median(rss) / 1024, statistics.median(pss) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=200, help="start-up runs per command (default 200)")
    parser.add_argument("--sleep-runs", type=int, default=5, help="memory samples per command (default 5)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="hitless-bench-pyc-") as pyc_dir:
        cases = build_cases(pyc_dir)
        measure_startup(cases, args.runs)
        memory = {case.name: measure_memory(case, args.sleep_runs) if case.memory else None for case in cases}

    bare = statistics.median(cases[0].times) * 1000
    print(f"exec of /bin/true through each init: median of {args.runs} runs; memory while running sleep")
    print(f"python {sys.version.split()[0]}, kernel {os.uname().release}, {os.cpu_count()} CPUs\n")
    columns = ("median ms", 10), ("p90 ms", 8), ("over bare", 10), ("RSS MB", 8), ("PSS MB", 8)
    header = f"{'command':32} " + " ".join(f"{name:>{width}}" for name, width in columns) + "  target"
    print(header)
    print("-" * len(header))
    failed = False
    for case in cases:
        times = sorted(t * 1000 for t in case.times)
        median = statistics.median(times)
        p90 = times[int(len(times) * 0.9) - 1]
        over = median - bare
        mem = memory[case.name]
        rss_text = f"{mem[0]:8.1f} {mem[1]:8.1f}" if mem else f"{'-':>8} {'-':>8}"
        verdict = ""
        if case.is_hitless and "as is" not in case.name:
            ok = over <= TARGET_OVERHEAD_MS and mem is not None and mem[0] <= TARGET_RSS_MB
            failed |= not ok
            verdict = "ok" if ok else f"MISSED (<= {TARGET_OVERHEAD_MS:.0f} ms, <= {TARGET_RSS_MB:.0f} MB)"
        over_text = "-" if case is cases[0] else f"{over:+.2f}"
        print(f"{case.name:32} {median:10.2f} {p90:8.2f} {over_text:>10} {rss_text}  {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
