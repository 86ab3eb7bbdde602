"""A sandbox's redirects: the pod's traffic to a Service address reaches the node's socket in
the pod's namespace, which learns where the pod meant to go; installing again replaces them."""

from __future__ import annotations

import asyncio
import shutil
import socket
from collections.abc import Callable

import pytest

from hitless.proxy.podside import original_destination
from hitless.runtime.cri import PodSandboxConfig, Redirect
from hitless.runtime.linux import LinuxRuntime
from hitless.runtime.linux.nat import ruleset

pytestmark = pytest.mark.skipif(shutil.which("nft") is None, reason="needs nft (apt-get install nftables)")


def test_ruleset_in_order_with_the_own_address_left_alone() -> None:
    text = ruleset(
        [
            Redirect("udp", "127.96.0.10", 53, 4000),
            Redirect("tcp", "127.244.0.9", None, None),
            Redirect("tcp", "127.96.0.0/12", None, 4001),
        ]
    )
    assert text.splitlines()[5:8] == [
        "    ip daddr 127.96.0.10 udp dport 53 redirect to :4000",
        "    ip daddr 127.244.0.9 meta l4proto tcp accept",
        "    ip daddr 127.96.0.0/12 meta l4proto tcp redirect to :4001",
    ]


async def test_redirected_inside_the_pod_only_and_replaced(
    runtime: LinuxRuntime, pod_config: Callable[..., PodSandboxConfig]
) -> None:
    sandbox = await runtime.run_pod_sandbox(pod_config("web-1"))
    listener = await runtime.sandbox_socket(sandbox)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    loop = asyncio.get_running_loop()

    async def dial(ip: str) -> tuple[str, int]:
        client = await runtime.sandbox_socket(sandbox)
        await asyncio.wait_for(loop.sock_connect(client, (ip, 9)), 5)
        conn, _ = await asyncio.wait_for(loop.sock_accept(listener), 5)
        try:
            return original_destination(conn)
        finally:
            conn.close()
            client.close()

    await runtime.set_sandbox_redirects(sandbox, [Redirect("tcp", "127.96.0.0/12", None, port)])
    assert await dial("127.96.3.4") == ("127.96.3.4", 9)
    await runtime.set_sandbox_redirects(sandbox, [Redirect("tcp", "127.97.0.0/16", None, port)])
    assert await dial("127.97.1.1") == ("127.97.1.1", 9)
    client = await runtime.sandbox_socket(sandbox)
    with pytest.raises(ConnectionRefusedError):  # the first table is gone
        await asyncio.wait_for(loop.sock_connect(client, ("127.96.3.4", 9)), 5)
    client.close()
    listener.close()
    # The host's namespace has none of it.
    with socket.socket() as host, pytest.raises(ConnectionRefusedError):
        host.connect(("127.97.1.1", 9))
