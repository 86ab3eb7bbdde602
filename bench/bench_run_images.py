"""Warm start of an image's replicas to Ready, and podman run of the same image beside it.

    python bench/bench_run_images.py [--replicas 1,50] [--runs 3] [--json]

Builds the nginx image of bench/bench_images.py (Debian's nginx and its libraries, STOPSIGNAL
SIGQUIT, user www-data for the workers), pushes it to a docker-registry on loopback and pulls
it once into a fresh cache ("warm": the image is present, IfNotPresent). Then, per replica count:

- **hitless**: an engine in this process (one node) is given a Deployment of N replicas of
  ``nginx:1.27`` (resolved through ``--registry-mirror docker.io=...``) with a readiness probe
  (httpGet /healthz, periodSeconds 1); the time from ``apply`` to every container running (each
  one an overlay over the shared tree, its own mount namespace, pivot_root, PID 1) and to every
  pod Ready;
- **podman**: ``podman run -d --network none`` of the same image, N times one after the other
  (what ``podman kube play`` does per container), from a store where it is already pulled; the
  time until the last one is running. ``--cgroups disabled`` (crun refuses hybrid cgroup
  hosts otherwise) and ``--ulimit nofile=4096:4096 --ulimit nproc=4096:4096`` (crun cannot
  raise them past this machine's hard limits, podman's default). Skipped with a note where podman
  cannot run.

``--per-container N`` first measures what one container start costs the runtime itself
(``create_container`` + ``start_container`` until PID 1 has exec'd, N starts one after the other
in one pod, median): a host command with no mounts (util-linux ``unshare --mount-proc``), a host
command with one CRI mount (the mount stage in the forked child), and a container of a busybox
image (overlay, /proc, /dev, /sys, the /etc files, pivot_root, the image's user).

Needs root (namespaces, overlay mounts).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.images.builders import build_nginx_image, find_nginx, missing_tools
from tests.images.servers import Registry

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: nginx}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: nginx}}}}
  template:
    metadata: {{labels: {{app: nginx}}}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: nginx
        image: nginx:1.27
        ports: [{{containerPort: 80}}]
        readinessProbe:
          httpGet: {{path: /healthz, port: 80}}
          periodSeconds: 1
"""


async def hitless_start(replicas: int, mirror: str, cache: Path, log_dir: Path) -> dict[str, float]:
    from hitless.api import load_text
    from hitless.clock import RealClock
    from hitless.engine import Engine, EngineOptions
    from hitless.images import ImageStore, PullOptions
    from hitless.kubelet.images import ImageService
    from hitless.runtime.linux import LinuxRuntime

    store = ImageStore(cache, PullOptions(mirrors=PullOptions.parse_mirrors([mirror])))
    clock = RealClock()
    engine = Engine(
        LinuxRuntime(clock), clock, EngineOptions(nodes=1, log_dir=log_dir, images=ImageService(store=store))
    )
    await engine.start()
    objects = [o.obj for o in load_text(DEPLOYMENT.format(replicas=replicas), "bench.yaml").applied()]
    started = time.perf_counter()
    engine.apply(objects)
    running_at = ready_at = None
    while ready_at is None and time.perf_counter() - started < 120:
        pods = engine.pods()
        statuses = [s for p in pods for s in (p.status.container_statuses or [])]
        if running_at is None and len(statuses) == replicas and all(s.state.running for s in statuses):
            running_at = time.perf_counter() - started
        if len(statuses) == replicas and all(s.ready for s in statuses):
            ready_at = time.perf_counter() - started
        await asyncio.sleep(0.005)
    await engine.delete_all_pods(grace_period_seconds=0)
    await engine.stop()
    if running_at is None or ready_at is None:
        raise RuntimeError(f"{replicas} replicas were not Ready within 120 s")
    return {"running_s": running_at, "ready_s": ready_at}


async def per_container(n: int, work: Path) -> dict[str, float]:
    import dataclasses

    from tests.runtime.busybox_rootfs import make_rootfs

    from hitless.runtime.cri import ContainerConfig, Mount, PodSandboxConfig
    from hitless.runtime.linux import LinuxRuntime

    rootfs = make_rootfs(work / "busybox-rootfs")
    volume = work / "volume"
    volume.mkdir()
    host = ContainerConfig("c", ["sleep", "1000"], {"PATH": "/usr/bin:/bin"}, "/", 0)
    kinds = {
        "host command": host,
        "host command + 1 mount": dataclasses.replace(host, mounts=(Mount("/mnt", str(volume)),)),
        "image (busybox)": dataclasses.replace(host, env={"PATH": "/bin"}, working_dir=None, rootfs=rootfs),
    }
    rt = LinuxRuntime()
    out: dict[str, float] = {}
    try:
        sandbox = await rt.run_pod_sandbox(
            PodSandboxConfig("bench", "bench", "bench", "bench", work / "logs")
        )
        for kind, config in kinds.items():
            times = []
            for _ in range(n):
                started = time.perf_counter()
                cid = await rt.create_container(sandbox, config)
                await rt.start_container(cid)
                times.append(time.perf_counter() - started)
                await rt.remove_container(cid)
            out[kind] = statistics.median(times) * 1000
    finally:
        await rt.shutdown()
    return out


def podman_cmd(root: Path) -> list[str]:
    storage = ["--root", str(root / "root"), "--runroot", str(root / "run"), "--storage-driver", "overlay"]
    return ["podman", *storage, "--cgroup-manager", "cgroupfs", "--events-backend", "none"]


def podman_start(replicas: int, reference: str, root: Path) -> dict[str, float] | str:
    base = podman_cmd(root)
    names = [f"bench-{i}" for i in range(replicas)]
    started = time.perf_counter()
    try:
        for name in names:
            subprocess.run(
                [*base, "run", "-d", "--name", name, "--network", "none", "--cgroups", "disabled",
                 "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096", reference],
                check=True, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
        elapsed = time.perf_counter() - started
        states = subprocess.run(
            [*base, "ps", "--format", "{{.State}}"], check=True, capture_output=True, text=True, timeout=60
        ).stdout.split()
        if states.count("running") != replicas:
            return f"podman: only {states.count('running')} of {replicas} running"
        return {"running_s": elapsed}
    except subprocess.CalledProcessError as exc:
        return f"podman run failed: {(exc.stderr or '').strip().splitlines()[-1:]}"
    finally:
        subprocess.run([*base, "rm", "-f", "-t", "0", *names], capture_output=True, timeout=120)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--replicas", default="1,50")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--per-container", type=int, default=50, metavar="N")
    args = parser.parse_args()
    costs: dict[str, float] = {}
    if args.per_container:
        scratch = Path(tempfile.mkdtemp(prefix="hitless-bench-per-container-"))
        try:
            costs = asyncio.run(per_container(args.per_container, scratch))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        if not args.json:
            print(f"one container start, median of {args.per_container} (ms):")
            for kind, ms in costs.items():
                print(f"  {kind:<24} {ms:6.1f}")
    if missing := missing_tools():
        print(f"skipped: needs {', '.join(missing)}", file=sys.stderr)
        return 0
    work = Path(tempfile.mkdtemp(prefix="hitless-bench-run-images-"))
    results: dict[str, object] = {}
    registry = Registry(work / "registry").start()
    try:
        nginx = find_nginx(work)
        if nginx is None:
            print("skipped: no nginx binary (apt-get download nginx failed)", file=sys.stderr)
            return 0
        build_nginx_image(work / "layout", "nginx", nginx)
        registry.push(f"oci:{work / 'layout'}:nginx", "library/nginx:1.27")
        mirror = f"docker.io=http://{registry.host}"
        cache = work / "cache"
        # Warm: pulled once before the runs.
        from hitless.images import ImageStore, PullOptions

        asyncio.run(
            ImageStore(cache, PullOptions(mirrors=PullOptions.parse_mirrors([mirror]))).pull("nginx:1.27")
        )
        podman_root = work / "podman"
        reference = f"{registry.host}/library/nginx:1.27"
        pull = [*podman_cmd(podman_root), "pull", "--tls-verify=false", reference]
        pulled = subprocess.run(pull, capture_output=True, text=True) if shutil.which("podman") else None
        podman_note = None
        if pulled is None:
            podman_note = "podman not installed"
        elif pulled.returncode != 0:
            podman_note = f"podman pull failed: {pulled.stderr.strip()[-300:]}"
        for n in (int(x) for x in args.replicas.split(",")):
            runs = [asyncio.run(hitless_start(n, mirror, cache, work / "logs")) for _ in range(args.runs)]
            entry: dict[str, object] = {
                "hitless_running_s": statistics.median(r["running_s"] for r in runs),
                "hitless_ready_s": statistics.median(r["ready_s"] for r in runs),
                "hitless_runs": runs,
            }
            if podman_note is None:
                podman_runs = [podman_start(n, reference, podman_root) for _ in range(args.runs)]
                failed = [r for r in podman_runs if isinstance(r, str)]
                if failed:
                    entry["podman"] = failed[0]
                else:
                    entry["podman_running_s"] = statistics.median(
                        r["running_s"] for r in podman_runs if isinstance(r, dict)
                    )
            else:
                entry["podman"] = podman_note
            results[str(n)] = entry
    finally:
        registry.stop()
        subprocess.run(
            [*podman_cmd(work / "podman"), "system", "reset", "-f"], capture_output=True, timeout=120
        )
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps({"per_container_ms": costs, "replicas": results}, indent=2))
        return 0
    print(f"{'replicas':>8} {'hitless running':>16} {'hitless Ready':>14} {'podman run':>11}")
    for n, entry in results.items():
        assert isinstance(entry, dict)
        pod = entry.get("podman_running_s")
        podman_text = f"{pod:10.2f}s" if isinstance(pod, float) else "     n/a"
        print(f"{n:>8} {entry['hitless_running_s']:15.2f}s {entry['hitless_ready_s']:13.2f}s {podman_text}")
        if "podman" in entry:
            print(f"         podman: {entry['podman']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
