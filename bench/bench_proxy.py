"""What a node's proxy costs: requests/s and latency through a NodePort, straight to the backend,
and through haproxy in TCP mode, in one run.

For keep-alive and for a new connection per request, load-generator processes (Protocol-based
clients, several processes so that the client is not what is measured) run against (a) the
backend directly, (b) the same backend through a ``NodeProxy``'s NodePort frontend (Cluster
policy: SNAT; ``proxy/forward.py`` and ``proxy/relay.py``) and (c) haproxy (``mode tcp``,
``nbthread 1``: one thread, as the proxy has one event loop) in front of the same backend; it
prints req/s, p50/p99 and the proxy's and haproxy's CPU per 1000 requests, and the ratios proxy
/ haproxy. Without haproxy installed its row is skipped. The backend is a minimal asyncio HTTP
server in its own process on a stand-in pod address (127.250.0.2, as in tests/proxy), so the
proxy is measured, not a pod's network namespace or the demo app.
Run: ``python bench/bench_proxy.py [--duration 3] [--runs 4] [-c 16] [-p 2]``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from hitless.api.types.discovery import EndpointSlice
from hitless.api.types.service import Service
from hitless.clock import RealClock
from hitless.proxy.node import NodeProxy, ProxyOptions
from hitless.proxy.records import ConnectionLog
from hitless.runtime.fake import FakeRuntime
from hitless.runtime.network import PodNetwork
from hitless.store.store import Store

BACKEND = ("127.250.0.2", 18090)
NODE = "127.0.51.1"
HAPROXY_FRONTEND = "127.0.51.2"

BACKEND_CODE = r"""
import asyncio, sys
BODY = b"ok\n"
KEEP = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n" + BODY
CLOSE = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\n" + BODY
class Http(asyncio.Protocol):
    def connection_made(self, t):
        self.t, self.buf = t, b""
    def data_received(self, data):
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            head, _, self.buf = self.buf.partition(b"\r\n\r\n")
            if b"Connection: close" in head:
                self.t.write(CLOSE); self.t.close(); return
            self.t.write(KEEP)
async def main():
    server = await asyncio.get_running_loop().create_server(Http, sys.argv[1], int(sys.argv[2]), backlog=4096)
    print("ready", flush=True)
    await server.serve_forever()
asyncio.run(main())
"""

LOADGEN_CODE = r"""
import asyncio, json, socket, sys, time
ip, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
conc, duration = int(sys.argv[4]), float(sys.argv[5])
KEEP = f"GET / HTTP/1.1\r\nHost: {ip}\r\n\r\n".encode()
CLOSE = f"GET / HTTP/1.1\r\nHost: {ip}\r\nConnection: close\r\n\r\n".encode()
KEEP_LEN = len(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")  # the backend's fixed answer
now = time.perf_counter
lat, errors = [], 0
# Protocols, not streams: the client must cost less than what it measures.
class KeepAlive(asyncio.Protocol):
    def __init__(self, end, done):
        self.end, self.done, self.got = end, done, 0
    def connection_made(self, t):
        self.t = t
        t.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.t0 = now(); t.write(KEEP)
    def data_received(self, data):
        self.got += len(data)
        if self.got >= KEEP_LEN:
            t = now(); lat.append(t - self.t0); self.got = 0
            if t < self.end:
                self.t0 = t; self.t.write(KEEP)
            else:
                self.t.close()
    def connection_lost(self, exc):
        if not self.done.done():
            self.done.set_result(None)
class Close(asyncio.Protocol):
    def __init__(self, done):
        self.done = done
    def connection_made(self, t):
        t.write(CLOSE)
    def data_received(self, data):
        pass
    def connection_lost(self, exc):
        self.done.set_result(exc)
async def keepalive(end):
    loop = asyncio.get_running_loop(); done = loop.create_future()
    await loop.create_connection(lambda: KeepAlive(end, done), ip, port)
    await done
async def close(end):
    global errors
    loop = asyncio.get_running_loop()
    while now() < end:
        t = now(); done = loop.create_future()
        try:
            await loop.create_connection(lambda: Close(done), ip, port)
            if await done is None:
                lat.append(now() - t)
            else:
                errors += 1
        except OSError:
            errors += 1
async def main():
    start = now(); end = start + duration
    fn = keepalive if mode == "keep-alive" else close
    await asyncio.gather(*(fn(end) for _ in range(conc)))
    print(json.dumps({"elapsed": now() - start, "errors": errors, "lat": [round(x * 1e6) for x in lat]}))
asyncio.run(main())
"""


SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {
        "type": "NodePort",
        "externalTrafficPolicy": "Cluster",
        "selector": {"app": "web"},
        "ports": [{"name": "http", "port": 80, "targetPort": BACKEND[1], "protocol": "TCP"}],
    },
}
SLICE = {
    "apiVersion": "discovery.k8s.io/v1",
    "kind": "EndpointSlice",
    "metadata": {
        "name": "web-x",
        "namespace": "default",
        "labels": {"kubernetes.io/service-name": "web"},
    },
    "addressType": "IPv4",
    "endpoints": [
        {
            "addresses": [BACKEND[0]],
            "conditions": {"ready": True, "serving": True, "terminating": False},
            "nodeName": "node-1",
            "targetRef": {"kind": "Pod", "namespace": "default", "name": "backend"},
        }
    ],
    "ports": [{"name": "http", "protocol": "TCP", "port": BACKEND[1]}],
}


HAPROXY_CONFIG = """\
global
    # One thread, as the hitless proxy has one event loop: like is compared with like.
    nbthread 1
    maxconn 8000
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend bench
    bind {frontend}
    default_backend pod
backend pod
    # Sourced from a node address, as the hitless proxy's Cluster policy (SNAT) does.
    server pod {backend} source {source}
"""


def free_port(ip: str) -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        port: int = s.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU of another process, from /proc (utime and stime, in clock ticks)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class HAProxy:
    """haproxy in TCP mode in front of the same backend, or None when it is not installed."""

    def __init__(self, binary: str, workdir: str) -> None:
        self.address = (HAPROXY_FRONTEND, free_port(HAPROXY_FRONTEND))
        config = os.path.join(workdir, "haproxy.cfg")
        with open(config, "w") as f:
            f.write(
                HAPROXY_CONFIG.format(
                    frontend=f"{self.address[0]}:{self.address[1]}",
                    backend=f"{BACKEND[0]}:{BACKEND[1]}",
                    source=HAPROXY_FRONTEND,
                )
            )
        subprocess.run([binary, "-c", "-q", "-f", config], check=True)
        # -db: stay in the foreground, so the PID is haproxy's own and it is stopped by it.
        self.proc = subprocess.Popen([binary, "-db", "-f", config])

    async def wait_ready(self) -> None:
        for _ in range(100):
            try:
                _, w = await asyncio.open_connection(*self.address)
                w.close()
                return
            except OSError:
                await asyncio.sleep(0.05)
        raise RuntimeError("haproxy did not start listening")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def load(ip: str, port: int, mode: str, conc: int, procs: int, duration: float) -> dict[str, float]:
    """``conc`` connections over ``procs`` client processes; their latencies merged."""
    shares = [conc // procs + (i < conc % procs) for i in range(procs)]
    clients = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            LOADGEN_CODE,
            ip,
            str(port),
            mode,
            str(n),
            str(duration),
            stdout=subprocess.PIPE,
        )
        for n in shares
        if n
    ]
    outs = await asyncio.gather(*(c.communicate() for c in clients))
    results = [json.loads(out) for out, _ in outs]
    lat = sorted(x for r in results for x in r["lat"])
    elapsed = max(r["elapsed"] for r in results)
    return {
        "rps": len(lat) / elapsed,
        "requests": len(lat),
        "errors": sum(r["errors"] for r in results),
        "p50": lat[len(lat) // 2] / 1e6,
        "p99": lat[int(len(lat) * 0.99)] / 1e6,
    }


def ms(x: float) -> str:
    return f"{x * 1e3:.2f}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("-c", "--connections", type=int, default=16, help="concurrent clients in all")
    parser.add_argument("-p", "--processes", type=int, default=2, help="load generator processes")
    parser.add_argument("--runs", type=int, default=1, help="repeat each measurement, report the median")
    parser.add_argument("--haproxy", default=shutil.which("haproxy") or "/usr/sbin/haproxy")
    parser.add_argument("--profile", help="write a cProfile of the proxy to this file")
    parser.add_argument("--profile-mode", default="new connection", choices=("keep-alive", "new connection"))
    args = parser.parse_args()

    backend = subprocess.Popen(  # noqa: ASYNC220  (started once, before any measurement)
        [sys.executable, "-c", BACKEND_CODE, *map(str, BACKEND)], stdout=subprocess.PIPE
    )
    assert backend.stdout is not None and backend.stdout.readline().strip() == b"ready"
    workdir = tempfile.mkdtemp(prefix="bench-proxy-")
    haproxy: HAProxy | None = None
    if os.access(args.haproxy, os.X_OK):
        haproxy = HAProxy(args.haproxy, workdir)
    else:
        print(f"haproxy not found at {args.haproxy}: its row is skipped")
    clock = RealClock()
    store = Store(clock)
    log = ConnectionLog()
    proxy = NodeProxy(
        "node-1",
        NODE,
        clock,
        store,
        PodNetwork(FakeRuntime(clock)),
        log,
        ProxyOptions(propagation_delay=0.0, healthz_port=0),
        rng=random.Random(1),
    )
    proxy.start()
    try:
        if haproxy is not None:
            await haproxy.wait_ready()
        svc = store.create(Service.from_json(SERVICE))
        store.create(EndpointSlice.from_json(SLICE))
        node_port = (svc.spec.ports or [])[0].node_port
        assert node_port
        synced = asyncio.Event()
        log.sync_listeners.append(lambda sync: synced.set() if sync.used else None)
        await asyncio.wait_for(synced.wait(), 10)
        targets: dict[str, tuple[str, int]] = {"direct": BACKEND, "hitless proxy": (NODE, node_port)}
        if haproxy is not None:
            targets["haproxy"] = haproxy.address
        profiler = cProfile.Profile() if args.profile else None
        rows = []
        ratios = []
        for mode in ("keep-alive", "new connection"):
            results: dict[str, list[dict[str, float]]] = {t: [] for t in targets}
            for _ in range(args.runs):
                # Interleaved, so a neighbour's load on the shared CPUs spreads over every target.
                for target, (ip, port) in targets.items():
                    log.records.clear()  # the records are kept for the verifier; not what is measured
                    before = (
                        time.process_time()
                        if target == "hitless proxy"
                        else cpu_seconds(haproxy.proc.pid)
                        if target == "haproxy" and haproxy is not None
                        else 0.0
                    )
                    profiling = (
                        profiler is not None and target == "hitless proxy" and mode == args.profile_mode
                    )
                    if profiling:
                        profiler.enable()  # type: ignore[union-attr]
                    r = await load(ip, port, mode, args.connections, args.processes, args.duration)
                    if profiling:
                        profiler.disable()  # type: ignore[union-attr]
                    if target == "hitless proxy":
                        r["cpu"] = (time.process_time() - before) / r["requests"] * 1000
                    elif target == "haproxy" and haproxy is not None:
                        r["cpu"] = (cpu_seconds(haproxy.proc.pid) - before) / r["requests"] * 1000
                    results[target].append(r)
            med = {
                t: {k: statistics.median(x.get(k, 0.0) for x in rs) for k in rs[0]}
                for t, rs in results.items()
            }
            for target, m in med.items():
                cpu = f"{m['cpu'] * 1e3:.0f} ms" if "cpu" in m else "–"
                rows.append(
                    f"| {mode} | {target} | {m['rps']:,.0f} | {m['rps'] / med['direct']['rps']:.2f}× "
                    f"| {ms(m['p50'])} / {ms(m['p99'])} | {cpu} | {int(m['errors'])} |"
                )
            if "haproxy" in med:
                ratio = med["hitless proxy"]["rps"] / med["haproxy"]["rps"]
                ratios.append(
                    f"{mode}: hitless proxy / haproxy = {ratio:.2f}× "
                    f"(target {'0.8' if mode == 'keep-alive' else '0.5'}×)"
                )
        print(
            f"{args.connections} concurrent clients over {args.processes} load generator processes, "
            f"{args.duration:g} s per measurement, median of {args.runs}; haproxy with nbthread 1"
        )
        print("| requests | path | req/s | vs direct | p50 / p99 ms | proxy CPU per 1000 req | errors |")
        print("|---|---|---:|---:|---:|---:|---:|")
        print("\n".join(rows))
        print("\n".join(ratios))
        if profiler is not None:
            profiler.dump_stats(args.profile)
    finally:
        await proxy.stop()
        if haproxy is not None:
            haproxy.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        backend.terminate()
        backend.wait()


if __name__ == "__main__":
    if "--uvloop" in sys.argv:
        # Only to measure what uvloop would give; the engine does not use it (docs/performance.md).
        sys.argv.remove("--uvloop")
        import uvloop  # type: ignore[import-not-found]

        uvloop.run(main())
    else:
        asyncio.run(main())
