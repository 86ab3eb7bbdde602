"""Two hitless started at the same moment never share addresses (proxy/claims.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from hitless.cli.addresses import claim_addresses
from hitless.proxy.claims import block_name, block_prefixes, claim_holder, try_claim

# The children's /proc/PID/comm: the name they were executed by.
COMM = os.path.basename(sys.executable)[:15]

# A run's claim as `hitless up` makes it, one per "go" line, given up on each "release" line.
CLAIMER = """
import json, random, sys, time
from hitless.api import load_text
from hitless.cli import addresses

objects = [o.obj for o in load_text(sys.argv[1], "svc.yaml").applied()]
print("ready", flush=True)
for line in sys.stdin:
    if line.strip() != "go":
        break
    # Either may start first: the other's "go" may be read a few microseconds later.
    time.sleep(random.random() * 0.0005)
    prefixes, conflicts = addresses.claim_addresses(objects, 2)
    print(json.dumps({"prefixes": prefixes, "conflicts": conflicts}), flush=True)
    if sys.stdin.readline().strip() != "release":
        break
    for claim in addresses._HELD:
        claim.release()
    addresses._HELD.clear()
    print("released", flush=True)
"""

SERVICE = (
    "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
    "spec: {clusterIP: 127.96.41.41, selector: {app: web}, ports: [{port: 80}]}\n"
)


@contextmanager
def claimers(count: int, manifest: str) -> Iterator[list[subprocess.Popen[str]]]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, manifest],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    try:
        for proc in procs:
            assert read(proc) == "ready"
        yield procs
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
            for pipe in (proc.stdin, proc.stdout):
                assert pipe is not None
                pipe.close()


def send(proc: subprocess.Popen[str], line: str) -> None:
    stdin: IO[str] | None = proc.stdin
    assert stdin is not None
    stdin.write(line + "\n")
    stdin.flush()


def read(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    return proc.stdout.readline().strip()


def test_two_runs_claiming_at_once_get_disjoint_blocks_and_one_fixed_cluster_ip() -> None:
    rounds = 150
    with claimers(2, SERVICE) as procs:
        pids = [p.pid for p in procs]
        for n in range(rounds):
            for proc in procs:
                send(proc, "go")
            got = [json.loads(read(proc)) for proc in procs]
            nodes = [g["prefixes"][0] for g in got]
            balancers = [g["prefixes"][1] for g in got]
            # Both held their blocks at once (the refused one until it saw the cluster IP taken).
            assert len({*nodes, *balancers}) == 4, (n, got)
            # The fixed clusterIP went to exactly one, and the other names it.
            refused = [i for i, g in enumerate(got) if g["conflicts"]]
            assert len(refused) == 1, (n, got)
            [message] = got[refused[0]]["conflicts"]
            winner = pids[1 - refused[0]]
            assert message == (
                'Service "web" is invalid: spec.clusterIP: Invalid value: "127.96.41.41": provided IP is '
                "already allocated on this host (127.96.41.41:80 is claimed by another hitless run, "
                f"pid {winner} ({COMM}))"
            ), n
            for proc in procs:
                send(proc, "release")
            assert [read(proc) for proc in procs] == ["released", "released"]


def test_a_killed_runs_claim_dies_with_it() -> None:
    with claimers(1, SERVICE) as [proc]:
        send(proc, "go")
        got = json.loads(read(proc))
        assert got["conflicts"] == []
        block = block_name(*got["prefixes"])
        for name in (block, "127.96.41.41:80"):
            assert try_claim(name) is None
            assert claim_holder(name) == f"pid {proc.pid} ({COMM})"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        for name in (block, "127.96.41.41:80"):
            claim = try_claim(name)
            assert claim is not None, name
            claim.release()


def test_with_every_block_claimed_a_run_refuses_with_a_message() -> None:
    names = [block_name(*block_prefixes(k)) for k in range(127)]
    held = [claim for name in names if (claim := try_claim(name)) is not None]
    try:
        assert claim_addresses([], 2) == (
            ("", ""),
            ["every block of node addresses in 127.0.0.0/16 is in use by another hitless"],
        )
    finally:
        for claim in held:
            claim.release()
    assert all(not claim.held for claim in held)
