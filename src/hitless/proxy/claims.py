"""Claims on this host's loopback addresses, atomic across every hitless on the host.

Each run takes a block of loopback addresses for its nodes and load balancers, and listens on the
fixed clusterIPs its manifests name. Looking at what listens there is not enough: two runs
started at the same moment (two CI jobs on one runner, ``make -j``) both find a block free, both
take it, and then each one's load balancer health-checks and loads the other's pods, or one
cannot listen. So a run first *claims* the address, then looks whether anything else (an older
hitless, another program) listens there, and holds the claim for its whole life.

A claim is a Unix socket bound to a name in the abstract namespace, ``@hitless/address/<what>``:

- binding is atomic: of two processes binding one name, exactly one succeeds (EADDRINUSE);
- the name is freed when the last descriptor of the socket is closed, however its holders end:
  a SIGKILLed run's claim dies with it (as flock(2) locks do, logdirs.py and images/lease.py),
  and there is no file left behind to clean;
- the abstract namespace belongs to the network namespace, as the loopback addresses do: two
  runs in two network namespaces (pytest-xdist's workers, tests/conftest.py) have loopbacks of
  their own and do not contend, while every user of one namespace, root or not, sees the same
  names, where a lock file would need a directory that every user can write (``/run/hitless``
  is root's, ``$XDG_RUNTIME_DIR`` one user's);
- ``ss -xap`` and ``/proc/net/unix`` show it, so that the holder can be named.

The descriptor is close-on-exec: the engine's own forks (runtime/linux/bootstrap.py's P, I and E)
share it, the containers it execs do not.
"""

from __future__ import annotations

import errno
import os
import socket
import weakref
from pathlib import Path

from hitless.proxy.health import PROXY_HEALTHZ_PORT
from hitless.proxy.owner import process_holding

_NAMESPACE = "hitless/address/"


class Claim:
    """A held claim; :meth:`release` (or the end of every process sharing it) gives it up."""

    def __init__(self, name: str, fd: int) -> None:
        self.name = name
        self._fd = fd
        # An Engine that is never stopped (a test's) gives its claim up when it is collected.
        self._finalizer = weakref.finalize(self, os.close, fd)

    def release(self) -> None:
        self._finalizer()

    @property
    def held(self) -> bool:
        return self._finalizer.alive


def try_claim(what: str) -> Claim | None:
    """Claim ``what`` (an address, a block) for this process and its forks; None when another
    process of this network namespace holds it."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.bind("\0" + _NAMESPACE + what)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            return None
        raise
    return Claim(what, sock.detach())


def claim_holder(what: str) -> str | None:
    """'pid 123 (hitless)' for the process holding the claim on ``what``, if it can be found."""
    wanted = "@" + _NAMESPACE + what
    try:
        lines = Path("/proc/net/unix").read_text().splitlines()[1:]
    except OSError:
        return None
    # Num RefCount Protocol Flags Type St Inode Path
    inodes = {int(f[6]) for f in (line.split() for line in lines) if len(f) >= 8 and f[7] == wanted}
    return process_holding(inodes) if inodes else None


def block_prefixes(index: int) -> tuple[str, str]:
    """Block pair ``index``: its nodes' prefix and its load balancers' (127.0.1. and 127.0.2., ...)."""
    return f"127.0.{2 * index + 1}.", f"127.0.{2 * index + 2}."


def block_name(nodes: str, balancers: str) -> str:
    """The claim's name for the block pair with these prefixes."""
    return f"{nodes}0/24+{balancers}0/24"


def claim_address_block() -> tuple[str, str, Claim]:
    """Node and load-balancer address blocks that no other hitless on this host uses, claimed.

    Blocks go in pairs, 127.0.1. and 127.0.2., then 127.0.3. and 127.0.4., and so on. A pair is
    this run's when it could claim it and nothing listens on its node-1's proxy health port (a
    hitless from before claims, or another program there). Without this a second hitless on the
    host would fail to listen on its nodes' addresses, and its load balancer would health-check
    the first one's nodes. Keep the claim for as long as the addresses are in use.
    """
    for k in range(0, 127):
        nodes, balancers = block_prefixes(k)
        claim = try_claim(block_name(nodes, balancers))
        if claim is None:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            # As the proxy's own listener binds: only a listening socket makes the bind fail.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((nodes + "1", PROXY_HEALTHZ_PORT))
            except OSError:
                claim.release()
                continue
        return nodes, balancers, claim
    raise RuntimeError("every block of node addresses in 127.0.0.0/16 is in use by another hitless")
