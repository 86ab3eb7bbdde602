"""Sandboxes: one network namespace per pod, with a pod IP only reachable inside it."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from hitless.runtime.cri import ContainerState, PodSandboxConfig, RuntimeError_, SandboxState
from hitless.runtime.linux import LinuxRuntime

from .helpers import PYTHON, alive, container, log_lines, pid_ns_members, run, wait_until


async def http_get(rt: LinuxRuntime, sandbox_id: str, host: str, port: int, path: str) -> bytes:
    reader, writer = await rt.open_connection(sandbox_id, host, port, timeout=2)
    writer.write(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
    await writer.drain()
    response = await reader.read()
    writer.close()
    await writer.wait_closed()
    return response.split(b"\r\n\r\n", 1)[1]


async def wait_listening(rt: LinuxRuntime, sandbox_id: str, host: str, port: int) -> None:
    for _ in range(200):
        try:
            _, writer = await rt.open_connection(sandbox_id, host, port, timeout=1)
        except ConnectionRefusedError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise AssertionError(f"nothing listens on {host}:{port}")


async def test_sandbox_gets_a_unique_pod_ip_and_stops(
    runtime: LinuxRuntime, pod_config: Callable[..., PodSandboxConfig]
) -> None:
    a = await runtime.run_pod_sandbox(pod_config("a"))
    b = await runtime.run_pod_sandbox(pod_config("b"))
    status_a, status_b = runtime.pod_sandbox_status(a), runtime.pod_sandbox_status(b)
    assert status_a.state is status_b.state is SandboxState.READY
    assert status_a.ip != status_b.ip
    for ip in (status_a.ip, status_b.ip):
        assert ipaddress.ip_address(ip) in ipaddress.ip_network("127.244.0.0/16")

    holder = runtime._sandboxes[a].holder.pid
    cid = await run(runtime, a, container(["sleep", "1000"]))
    await runtime.stop_pod_sandbox(a)
    assert runtime.pod_sandbox_status(a).state is SandboxState.NOTREADY
    status = runtime.container_status(cid)
    assert status.state is ContainerState.EXITED and status.exit_code == 137
    assert not alive(holder)
    await runtime.stop_pod_sandbox(a)  # idempotent
    assert runtime.pod_sandbox_status(b).state is SandboxState.READY


async def test_two_pods_listen_on_the_same_port(
    runtime: LinuxRuntime, pod_config: Callable[..., PodSandboxConfig], tmp_path: Path
) -> None:
    pods = {}
    for name in ("a", "b"):
        served = tmp_path / f"www-{name}"
        served.mkdir()
        (served / "who").write_text(f"pod {name}\n")
        sandbox = await runtime.run_pod_sandbox(pod_config(name))
        argv = [PYTHON, "-m", "http.server", "8080", "--bind", "0.0.0.0", "--directory", str(served)]
        cid = await run(runtime, sandbox, container(argv))
        pods[name] = (sandbox, runtime.pod_sandbox_status(sandbox).ip, cid)
    for name, (sandbox, ip, _) in pods.items():
        await wait_listening(runtime, sandbox, ip, 8080)
        assert await http_get(runtime, sandbox, ip, 8080, "/who") == f"pod {name}\n".encode()
    for _, _, cid in pods.values():
        assert runtime.container_status(cid).state is ContainerState.RUNNING


async def test_app_bound_to_localhost_is_not_reachable_at_the_pod_ip(
    runtime: LinuxRuntime, pod_config: Callable[..., PodSandboxConfig]
) -> None:
    sandbox = await runtime.run_pod_sandbox(pod_config())
    ip = runtime.pod_sandbox_status(sandbox).ip
    argv = [PYTHON, "-m", "http.server", "8080", "--bind", "127.0.0.1", "--directory", "/"]
    await run(runtime, sandbox, container(argv))
    await wait_listening(runtime, sandbox, "127.0.0.1", 8080)
    with pytest.raises(ConnectionRefusedError):
        await runtime.open_connection(sandbox, ip, 8080, timeout=2)


async def test_pod_network_is_not_the_engines(
    runtime: LinuxRuntime, pod_config: Callable[..., PodSandboxConfig]
) -> None:
    sandbox = await runtime.run_pod_sandbox(pod_config())
    ip = runtime.pod_sandbox_status(sandbox).ip
    argv = [PYTHON, "-m", "http.server", "8080", "--bind", "0.0.0.0", "--directory", "/"]
    await run(runtime, sandbox, container(argv))
    await wait_listening(runtime, sandbox, ip, 8080)
    # The engine's own namespace has no listener on that address.
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(ip, 8080)
    # A sandbox socket is an ordinary non-blocking socket of the pod's network.
    sock = await runtime.sandbox_socket(sandbox)
    try:
        assert not sock.getblocking()
        await asyncio.get_running_loop().sock_connect(sock, (ip, 8080))
    finally:
        sock.close()


async def test_hostname_is_the_pods(
    runtime: LinuxRuntime, pod_config: Callable[..., PodSandboxConfig]
) -> None:
    sandbox = await runtime.run_pod_sandbox(pod_config("web-7f9c", hostname="web-7f9c"))
    cid = await run(runtime, sandbox, container(["hostname"]))
    await runtime.wait_container(cid)
    await wait_until(lambda: bool(log_lines(runtime, cid)))
    assert log_lines(runtime, cid) == ["web-7f9c"]
    assert os.uname().nodename != "web-7f9c"


async def test_connect_timeout(runtime: LinuxRuntime, pod_config: Callable[..., PodSandboxConfig]) -> None:
    sandbox = await runtime.run_pod_sandbox(pod_config())
    ip = runtime.pod_sandbox_status(sandbox).ip
    # A listener that never accepts: once its backlog is full, SYNs are dropped, as by a hung app.
    code = (
        "import socket, time\n"
        "s = socket.socket(); s.bind(('0.0.0.0', 9000)); s.listen(0)\n"
        "print('ready', flush=True); time.sleep(1000)\n"
    )
    cid = await run(runtime, sandbox, container([PYTHON, "-c", code]))
    await wait_until(lambda: log_lines(runtime, cid) == ["ready"])
    held = []
    with pytest.raises(TimeoutError, match=f"dial tcp {ip}:9000: i/o timeout"):
        for _ in range(10):
            held.append(await runtime.open_connection(sandbox, ip, 9000, timeout=0.5))
    assert held  # the first connections got in, the backlog then filled up
    for _, writer in held:
        writer.close()


async def test_shutdown_kills_everything(pod_config: Callable[..., PodSandboxConfig]) -> None:
    rt = LinuxRuntime()
    try:
        pids = []
        for name in ("a", "b"):
            sandbox = await rt.run_pod_sandbox(pod_config(name))
            pids.append(rt._sandboxes[sandbox].holder.pid)
            cid = await run(rt, sandbox, container(["sh", "-c", "sleep 1000 & wait"]))
            pid1 = rt.container_status(cid).pid
            assert pid1 is not None
            pids.append(pid1)
        for pid1 in pids[1::2]:
            await wait_until(lambda: len(pid_ns_members(pid1)) == 2)  # noqa: B023 (awaited at once)
            pids.extend(pid_ns_members(pid1))
        await asyncio.gather(rt.shutdown(), rt.shutdown())
        await rt.shutdown()
        assert not any(alive(pid) for pid in pids)
        with pytest.raises(RuntimeError_):
            await rt.run_pod_sandbox(pod_config("c"))
    finally:
        await rt.shutdown()


async def test_holder_killed_from_outside(
    runtime: LinuxRuntime, pod_config: Callable[..., PodSandboxConfig]
) -> None:
    """As a dead pause container: the sandbox turns NOTREADY, its containers run on until the
    sandbox is stopped, and the stop still releases everything."""
    sandbox = await runtime.run_pod_sandbox(pod_config())
    cid = await run(runtime, sandbox, container(["sleep", "1000"]))
    threads = len(os.listdir("/proc/self/task"))
    os.kill(runtime._sandboxes[sandbox].holder.pid, signal.SIGKILL)
    await wait_until(lambda: runtime.pod_sandbox_status(sandbox).state is SandboxState.NOTREADY)
    assert runtime.container_status(cid).state is ContainerState.RUNNING
    with pytest.raises(RuntimeError_, match="not ready"):
        await runtime.create_container(sandbox, container(["true"], name="late"))
    await runtime.stop_pod_sandbox(sandbox)
    assert runtime.container_status(cid).exit_code == 137
    await wait_until(lambda: len(os.listdir("/proc/self/task")) == threads - 1)
    await runtime.remove_pod_sandbox(sandbox)
    await runtime.remove_pod_sandbox(sandbox)  # idempotent
    with pytest.raises(RuntimeError_, match="not found"):
        runtime.pod_sandbox_status(sandbox)
