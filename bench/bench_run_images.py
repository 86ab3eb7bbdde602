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
  time until the last one is running (podman has no readiness). Run in a private mount namespace
  (its storage and a cgroup2 mount over a hybrid host's /sys/fs/cgroup stay there), with
  ``--cgroups disabled`` and ``--ulimit nofile=4096:4096 --ulimit nproc=4096:4096`` (crun
  refuses hybrid cgroups and cannot raise those limits past this machine's hard ones). Skipped
  with a note where podman cannot run.

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


PODMAN_SESSION = r"""
set -u
# A hybrid cgroup host (v1 controllers, an empty v2 beside them) makes crun refuse to run
# ("cgroups in hybrid mode not supported"): inside this private mount namespace only, cgroup2
# is mounted over /sys/fs/cgroup, and the containers run with --cgroups disabled.
if [ "$(stat -fc %T /sys/fs/cgroup)" = tmpfs ]; then mount -t cgroup2 none /sys/fs/cgroup; fi
P="podman --root $ROOT/root --runroot $ROOT/run --storage-driver overlay"
P="$P --cgroup-manager cgroupfs --events-backend none"
$P pull -q --tls-verify=false "$REF" >/dev/null || { echo "ERROR podman pull failed"; exit 0; }
for n in $COUNTS; do
  for r in $(seq "$RUNS"); do
    start=$(date +%s.%N)
    for i in $(seq "$n"); do
      # crun cannot raise RLIMIT_NOFILE/NPROC past this machine's hard limits (podman's default).
      $P run -d --name "b$i" --network none --cgroups disabled \
        --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 "$REF" >/dev/null 2>"$ROOT/err" \
        || { echo "ERROR podman run: $(tail -1 "$ROOT/err")"; exit 0; }
    done
    end=$(date +%s.%N)
    running=$($P ps -q | wc -l)  # ps lists running containers only
    echo "RESULT $n $start $end $running"
    $P rm -f -t 0 $(seq -f 'b%g' "$n") >/dev/null 2>&1
  done
done
$P system reset -f >/dev/null 2>&1
"""


def podman_session(reference: str, counts: list[int], runs: int, root: Path) -> dict[int, list[float]] | str:
    """``podman run -d`` of N containers, ``runs`` times per N, in a private mount namespace (so
    podman's storage and cgroup mounts stay out of the machine's): seconds until the last runs."""
    if shutil.which("podman") is None:
        return "podman not installed"
    root.mkdir(parents=True, exist_ok=True)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "ROOT": str(root), "REF": reference,
           "COUNTS": " ".join(map(str, counts)), "RUNS": str(runs)}  # fmt: skip
    done = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "bash", "-c", PODMAN_SESSION],
        capture_output=True, text=True, env=env, timeout=1800,
    )  # fmt: skip
    out: dict[int, list[float]] = {}
    for line in done.stdout.splitlines():
        if line.startswith("ERROR"):
            return line[len("ERROR ") :]
        if line.startswith("RESULT"):
            _, n, start, end, running = line.split()
            if int(running) != int(n):
                return f"only {running} of {n} podman containers running"
            out.setdefault(int(n), []).append(float(end) - float(start))
    return out or f"podman session failed: {done.stderr.strip()[-300:]}"


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
        counts = [int(x) for x in args.replicas.split(",")]
        reference = f"{registry.host}/library/nginx:1.27"
        podman = podman_session(reference, counts, args.runs, work / "podman")
        for n in counts:
            runs = [asyncio.run(hitless_start(n, mirror, cache, work / "logs")) for _ in range(args.runs)]
            entry: dict[str, object] = {
                "hitless_running_s": statistics.median(r["running_s"] for r in runs),
                "hitless_ready_s": statistics.median(r["ready_s"] for r in runs),
                "hitless_runs": runs,
            }
            if isinstance(podman, str):
                entry["podman"] = podman
            else:
                entry["podman_running_s"] = statistics.median(podman[n])
                entry["podman_runs"] = podman[n]
            results[str(n)] = entry
    finally:
        registry.stop()
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
