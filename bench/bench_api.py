"""The API server's cost: list latency, `kubectl get pods` latency, and watch fan-out beside probes.

Three measurements (docs/performance.md, "The API server"):

1. **In-process list of N pods** (default 1,000): the API server over a store holding N defaulted
   pods, `GET /api/v1/namespaces/default/pods` as JSON and as a Table (what `kubectl get` asks),
   over HTTPS from a client in this process; p50/p99 of the whole request, the first (cold:
   every object serialized) apart.
2. **`kubectl get pods`, the whole process** (discovery cached, as on a second use), against the
   same server with 50 and with N pods.
3. **Watch fan-out during a rollout**: the engine with a Deployment of M pods (default 50, demo
   app, readiness probe every second, as `hitless up` runs it), a `rollout restart` through the
   API, and W watch clients (default 50, in a separate process, so that their own work does not
   load the engine's loop) following every pod change; the probes' lateness p50/p99 over the
   rollout, with and without the watchers, and how many events each watcher received.

    sudo .venv/bin/python bench/bench_api.py [--pods 1000] [--rollout-pods 50] [--watchers 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from hitless.api import load_text
from hitless.api.types.apps import Deployment
from hitless.api.types.meta import K8sObject
from hitless.api.types.pod import Pod
from hitless.apiserver.certs import Credentials
from hitless.apiserver.kubeconfig import Kubeconfig
from hitless.apiserver.server import ApiServer
from hitless.clock import RealClock
from hitless.engine import Engine, EngineOptions, run_ahead_of_pods, tune_gc
from hitless.runtime.linux import LinuxRuntime
from hitless.store.store import Store

POD = """---
apiVersion: v1
kind: Pod
metadata: {{name: web-{i}, labels: {{app: web}}}}
spec:
  containers:
  - name: web
    image: hitless
    args: [demo-app, --port=8080]
    ports: [{{containerPort: 8080}}]
    readinessProbe: {{httpGet: {{path: /readyz, port: 8080}}, periodSeconds: 1}}
"""
DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: web}}}}
  strategy: {{rollingUpdate: {{maxSurge: 25%, maxUnavailable: 0}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: web
        image: hitless
        args: [demo-app, --port=8080, --request-log=none]
        readinessProbe: {{httpGet: {{path: /readyz, port: 8080}}, periodSeconds: 1}}
        livenessProbe: {{httpGet: {{path: /healthz, port: 8080}}, periodSeconds: 1, failureThreshold: 60}}
"""
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def client_ssl(creds: Credentials, tmp: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=creds.ca_pem.decode())
    (tmp / "c.crt").write_bytes(creds.client_cert_pem)
    (tmp / "c.key").write_bytes(creds.client_key_pem)
    ctx.load_cert_chain(tmp / "c.crt", tmp / "c.key")
    return ctx


def objects(text: str) -> list[K8sObject]:
    result = load_text(text, "bench.yaml")
    assert not result.errors, result.errors[0].format()
    return [o.obj for o in result.objects]


async def list_latency(pods: int, requests: int, tmp: Path) -> dict[str, Any]:
    clock = RealClock()
    store = Store(clock)
    for obj in objects("".join(POD.format(i=i) for i in range(pods))):
        store.create(obj)
    server = ApiServer(store, clock, tmp / "logs")
    await server.start()
    server.spawn()
    assert server.credentials is not None
    out: dict[str, Any] = {"pods": pods}
    path = server.url + "/api/v1/namespaces/default/pods"
    try:
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=client_ssl(server.credentials, tmp))
        ) as s:
            for name, headers in (("json", {}), ("table", {"Accept": TABLE})):
                times = []
                for _ in range(requests + 1):
                    t0 = time.perf_counter()
                    async with s.get(path, headers=headers) as resp:
                        body = await resp.read()
                    times.append(time.perf_counter() - t0)
                    assert resp.status == 200, body[:200]
                out[f"{name}_cold_ms"] = times[0] * 1000
                out[f"{name}_p50_ms"] = percentile(times[1:], 50) * 1000
                out[f"{name}_p99_ms"] = percentile(times[1:], 99) * 1000
                out[f"{name}_bytes"] = len(body)
        kubectl = shutil.which("kubectl")
        if kubectl:
            kubeconfig = tmp / f"kubeconfig-{pods}"
            Kubeconfig.write(server.url, server.credentials, kubeconfig)
            env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(tmp / f"home-{pods}")}
            times = []
            for _ in range(requests // 5 + 1):
                t0 = time.perf_counter()
                proc = await asyncio.create_subprocess_exec(
                    kubectl, "get", "pods", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
                )
                _, err = await proc.communicate()
                assert proc.returncode == 0, err
                times.append(time.perf_counter() - t0)
            out["kubectl_first_ms"] = times[0] * 1000  # discovery and the /version of gcloud's dispatcher
            out["kubectl_p50_ms"] = percentile(times[1:], 50) * 1000
            out["kubectl_p99_ms"] = percentile(times[1:], 99) * 1000
    finally:
        await server.stop()
    return out


WATCHER = r"""
import asyncio, json, ssl, sys, time
import aiohttp

async def main(url, ca, cert, key, n, path):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.load_cert_chain(cert, key)
    counts = [0] * n
    async def one(i, session):
        async with session.get(url + path, timeout=aiohttp.ClientTimeout(total=None)) as resp:
            async for line in resp.content:
                counts[i] += 1
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx, limit=0)) as s:
        tasks = [asyncio.create_task(one(i, s)) for i in range(n)]
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps(counts), flush=True)

asyncio.run(main(*sys.argv[1:5], int(sys.argv[5]), sys.argv[6]))
"""


async def rollout(replicas: int, watchers: int, tmp: Path) -> dict[str, Any]:
    clock = RealClock()
    logs = tmp / f"logs-{watchers}"
    engine = Engine(LinuxRuntime(clock), clock, EngineOptions(nodes=2, log_dir=logs))
    lateness: list[tuple[float, float]] = []
    for kubelet in engine.kubelets:
        kubelet.probes.lateness_observer = lambda kind, late: lateness.append((clock.now(), late))
    server = ApiServer(engine.store, clock, logs)
    await server.start()
    server.spawn()
    assert server.credentials is not None
    await engine.start()
    tune_gc()
    run_ahead_of_pods()
    watcher: asyncio.subprocess.Process | None = None
    counts: list[int] = []
    try:
        engine.apply(objects(DEPLOYMENT.format(replicas=replicas)))
        await wait_rolled_out(engine, replicas, 120)
        await asyncio.sleep(2)
        if watchers:
            creds = server.credentials
            (tmp / "ca.crt").write_bytes(creds.ca_pem)
            (tmp / "w.crt").write_bytes(creds.client_cert_pem)
            (tmp / "w.key").write_bytes(creds.client_key_pem)
            watcher = await asyncio.create_subprocess_exec(
                sys.executable, "-c", WATCHER, server.url, str(tmp / "ca.crt"), str(tmp / "w.crt"),
                str(tmp / "w.key"), str(watchers), "/api/v1/namespaces/default/pods?watch=true",
                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            )  # fmt: skip
            assert watcher.stdout is not None
            assert (await watcher.stdout.readline()).strip() == b"ready"
            await asyncio.sleep(1)
        start = clock.now()
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=client_ssl(server.credentials, tmp))
        ) as s:
            body = {
                "spec": {
                    "template": {
                        "metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": str(start)}}
                    }
                }
            }
            async with s.patch(
                server.url + "/apis/apps/v1/namespaces/default/deployments/web",
                data=json.dumps(body),
                headers={"Content-Type": "application/strategic-merge-patch+json"},
            ) as resp:
                assert resp.status == 200, await resp.text()
        await asyncio.sleep(0.5)
        await wait_rolled_out(engine, replicas, 300)
        took = clock.now() - start
        window = [late for at, late in lateness if at >= start]
        if watcher is not None:
            assert watcher.stdin is not None and watcher.stdout is not None
            watcher.stdin.write(b"\n")
            await watcher.stdin.drain()
            counts = json.loads(await watcher.stdout.readline())
            await watcher.wait()
    finally:
        engine.kill_now()
        await asyncio.wait_for(engine.wait_idle(), 60)
        await server.stop()
        await engine.stop()
    return {
        "replicas": replicas,
        "watchers": watchers,
        "rollout_s": took,
        "probes": len(window),
        "probe_p50_ms": percentile(window, 50) * 1000,
        "probe_p99_ms": percentile(window, 99) * 1000,
        "events_per_watcher_min": min(counts, default=0),
        "events_per_watcher_max": max(counts, default=0),
    }


async def wait_rolled_out(engine: Engine, replicas: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        d = engine.store.get("Deployment", "default", "web")
        pods = [p for p in engine.store.pods() if isinstance(p, Pod)]
        if (
            isinstance(d, Deployment)
            and (d.status.observed_generation or 0) >= (d.metadata.generation or 0)
            and d.status.updated_replicas == replicas
            and d.status.available_replicas == replicas
            and len(pods) == replicas
        ):
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"the rollout did not finish in {timeout}s")
        await asyncio.sleep(0.1)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--rollout-pods", type=int, default=50)
    parser.add_argument("--watchers", type=int, default=50)
    parser.add_argument("--skip-rollout", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_text:
        tmp = Path(tmp_text)
        for pods in (50, args.pods):
            print(json.dumps(await list_latency(pods, args.requests, tmp)), flush=True)
        if not args.skip_rollout:
            for watchers in (0, args.watchers):
                print(json.dumps(await rollout(args.rollout_pods, watchers, tmp)), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
