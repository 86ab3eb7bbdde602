"""A sandbox's NAT rules: what the pod sends to a Service address is redirected to a socket the
node holds in the pod's own network namespace.

Every address of 127.0.0.0/8 is local inside a pod's namespace, so a Service's cluster IP could be
served by a socket bound to it there, but that socket would take the port from the pod's own
``0.0.0.0:PORT`` listener (Linux refuses a wildcard bind beside a listening specific one). So, as
a CNI plugin (or kube-proxy's userspace mode) would, one nftables ``redirect`` per kind of traffic
sends it to the node's socket on the pod's loopback; that socket reads the original destination
with SO_ORIGINAL_DST, and conntrack rewrites the replies, so the pod sees the cluster IP answer.
"""

from __future__ import annotations

import asyncio
import shutil

from hitless.runtime.cri import Redirect, RuntimeError_

TABLE = "hitless"


def ruleset(redirects: list[Redirect]) -> str:
    """An ``nft -f`` script that replaces the table with ``redirects``, first match first."""
    rules = []
    for r in redirects:
        match = f"ip daddr {r.destination} "
        match += f"{r.protocol} dport {r.port}" if r.port is not None else f"meta l4proto {r.protocol}"
        verdict = "accept" if r.to_port is None else f"redirect to :{r.to_port}"
        rules.append(f"    {match} {verdict}\n")
    # "add" then "delete": replaces the table whether or not it exists, in one transaction.
    head = f"add table ip {TABLE}\ndelete table ip {TABLE}\ntable ip {TABLE} {{\n  chain output {{\n"
    hook = "    type nat hook output priority -100; policy accept;\n"
    return head + hook + "".join(rules) + "  }\n}\n"


async def install(net_fd: int, nsenter: str, redirects: list[Redirect]) -> None:
    """Load the ruleset inside the network namespace that ``net_fd`` (of this process) names."""
    nft = shutil.which("nft")
    if nft is None:
        raise RuntimeError_(
            "nft not found: Service and DNS traffic from pods needs nftables (apt-get install nftables)"
        )
    proc = await asyncio.create_subprocess_exec(
        nsenter,
        f"--net=/proc/self/fd/{net_fd}",
        nft,
        "-f",
        "-",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        pass_fds=(net_fd,),
    )
    try:
        _, err = await proc.communicate(ruleset(redirects).encode())
    except asyncio.CancelledError:
        # A sandbox torn down while its rules load (the engine stopping): reap nft here, or its
        # transport outlives the loop and its pipes are closed by the garbage collector after.
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        raise RuntimeError_(f"nft: {err.decode(errors='replace').strip()}")
