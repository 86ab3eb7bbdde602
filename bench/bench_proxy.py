"""What a node's proxy costs: requests/s and latency through a NodePort vs straight to the backend.

One run measures, for keep-alive and for a new connection per request, a load generator (its own
process) against (a) the backend directly and (b) the same backend through a ``NodeProxy``'s
NodePort frontend (Cluster policy: SNAT, relay in ``proxy/relay.py``), and the proxy process's CPU
per 1000 requests. The backend is a minimal asyncio HTTP server in its own process, listening on
a stand-in pod address (127.250.0.2, as in tests/proxy), so the proxy is measured, not a pod's
network namespace or the demo app. Run: ``python bench/bench_proxy.py [--duration 5] [-c 8]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
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
import asyncio, json, sys, time
ip, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
conc, duration = int(sys.argv[4]), float(sys.argv[5])
KEEP = f"GET / HTTP/1.1\r\nHost: {ip}\r\n\r\n".encode()
CLOSE = f"GET / HTTP/1.1\r\nHost: {ip}\r\nConnection: close\r\n\r\n".encode()
lat, errors = [], 0
async def keepalive(end):
    global errors
    r, w = await asyncio.open_connection(ip, port)
    while time.perf_counter() < end:
        t = time.perf_counter()
        w.write(KEEP)
        await r.readuntil(b"\r\n\r\n"); await r.readexactly(3)
        lat.append(time.perf_counter() - t)
    w.close()
async def close(end):
    global errors
    while time.perf_counter() < end:
        t = time.perf_counter()
        try:
            r, w = await asyncio.open_connection(ip, port)
            w.write(CLOSE)
            await r.read(-1)
            w.close()
            lat.append(time.perf_counter() - t)
        except OSError:
            errors += 1
async def main():
    start = time.perf_counter(); end = start + duration
    fn = keepalive if mode == "keep-alive" else close
    await asyncio.gather(*(fn(end) for _ in range(conc)))
    elapsed = time.perf_counter() - start
    lat.sort()
    print(json.dumps({"requests": len(lat), "errors": errors, "elapsed": elapsed,
                      "p50": lat[len(lat) // 2], "p99": lat[int(len(lat) * 0.99)]}))
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


async def load(ip: str, port: int, mode: str, conc: int, duration: float) -> dict[str, float]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", LOADGEN_CODE, ip, str(port), mode, str(conc), str(duration),
        stdout=subprocess.PIPE,
    )  # fmt: skip
    out, _ = await proc.communicate()
    result: dict[str, float] = json.loads(out)
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("-c", "--connections", type=int, default=8, help="concurrent clients")
    parser.add_argument("--runs", type=int, default=1, help="repeat each measurement, report the median")
    args = parser.parse_args()

    backend = subprocess.Popen(  # noqa: ASYNC220  (started once, before any measurement)
        [sys.executable, "-c", BACKEND_CODE, *map(str, BACKEND)], stdout=subprocess.PIPE
    )
    assert backend.stdout is not None and backend.stdout.readline().strip() == b"ready"
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
        svc = store.create(Service.from_json(SERVICE))
        store.create(EndpointSlice.from_json(SLICE))
        node_port = (svc.spec.ports or [])[0].node_port
        assert node_port
        synced = asyncio.Event()
        log.sync_listeners.append(lambda sync: synced.set() if sync.used else None)
        await asyncio.wait_for(synced.wait(), 10)
        rows = []
        for mode in ("keep-alive", "new connection"):
            results: dict[str, list[dict[str, float]]] = {"direct": [], "proxy": []}
            cpu: list[float] = []
            for _ in range(args.runs):
                for target, (ip, port) in (("direct", BACKEND), ("proxy", (NODE, node_port))):
                    log.records.clear()  # the records are kept for the verifier; not what is measured
                    before = time.process_time()
                    r = await load(ip, port, mode, args.connections, args.duration)
                    if target == "proxy":
                        cpu.append((time.process_time() - before) / r["requests"] * 1000)
                    results[target].append(r)
            med = {t: {k: statistics.median(x[k] for x in rs) for k in rs[0]} for t, rs in results.items()}
            rps = {t: m["requests"] / m["elapsed"] for t, m in med.items()}
            ratio = rps["proxy"] / rps["direct"]
            rows.append(
                f"| {mode} | {rps['direct']:,.0f} | {rps['proxy']:,.0f} | {ratio:.2f}× "
                f"| {med['direct']['p50'] * 1e3:.2f} / {med['direct']['p99'] * 1e3:.2f} "
                f"| {med['proxy']['p50'] * 1e3:.2f} / {med['proxy']['p99'] * 1e3:.2f} "
                f"| +{(med['proxy']['p50'] - med['direct']['p50']) * 1e3:.2f} / "
                f"+{(med['proxy']['p99'] - med['direct']['p99']) * 1e3:.2f} "
                f"| {statistics.median(cpu) * 1e3:.0f} ms | {int(med['proxy']['errors'])} |"
            )
        print(
            f"{args.connections} concurrent clients, {args.duration:g} s per measurement, "
            f"median of {args.runs}"
        )
        print(
            "| requests | direct req/s | proxy req/s | ratio | direct p50 / p99 ms | proxy p50 / p99 ms "
            "| added p50 / p99 ms | proxy CPU per 1000 req | errors |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        print("\n".join(rows))
    finally:
        await proxy.stop()
        backend.terminate()
        backend.wait()


if __name__ == "__main__":
    asyncio.run(main())
