"""How long a cold pull + unpack of a real image takes, what the cache costs on disk, and the same
pull by podman from the same loopback registry in the same run.

    python bench/bench_images.py [--repeat 5] [--json]

Builds an nginx image from Debian's nginx and every library ``ldd`` lists (the host's
/usr/sbin/nginx, else ``apt-get download nginx`` extracted, never installed), pushes it with
skopeo to a docker-registry on loopback, then:

- **cold pull**: ``ImageStore.pull`` into an empty cache (manifest, config, layers checked
  against their digests, unpacked in the chrooted child), ``--repeat`` times, each in a fresh
  cache; the median and the spread;
- **re-pull** of the present image (``imagePullPolicy: Always``: the manifest is fetched, no blob);
- **get** (``IfNotPresent``): the cache lookup alone;
- **cache disk use**: blobs (compressed layers) and the unpacked tree, once per image however many
  containers run it;
- **podman pull** of the same reference (``--tls-verify=false``, a fresh ``--root``/``--runroot``
  each time; overlay storage, else vfs), the same number of times.

Warm start of 1 and 50 replicas to Ready, and ``podman run`` beside it, belong to the run side
(the runtime's overlay per container): HOOK below.
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

from tests.images.oci import Registry, build_nginx_image, find_nginx, missing_tools


def du(path: Path) -> int:
    """Bytes on disk (allocated blocks, hard links counted once)."""
    seen: set[int] = set()
    total = 0
    for p in [path, *path.rglob("*")]:
        st = p.lstat()
        if st.st_ino in seen:
            continue
        seen.add(st.st_ino)
        total += st.st_blocks * 512
    return total


async def cold_pulls(reference: str, mirror: str, repeat: int, work: Path) -> dict[str, object]:
    from hitless.images import ImageStore, PullOptions

    options = PullOptions(mirrors=PullOptions.parse_mirrors([mirror]))
    times = []
    image = None
    store = None
    for i in range(repeat):
        store = ImageStore(work / f"cache-{i}", options)
        start = time.perf_counter()
        image = await store.pull(reference)
        times.append(time.perf_counter() - start)
    assert image is not None and store is not None
    start = time.perf_counter()
    again = await store.pull(reference)
    repull = time.perf_counter() - start
    assert again.rootfs == image.rootfs
    start = time.perf_counter()
    for _ in range(100):
        assert store.get(reference) is not None
    get = (time.perf_counter() - start) / 100
    files = sum(1 for _ in image.rootfs.rglob("*"))
    return {
        "cold_pull_s": times,
        "cold_pull_median_s": statistics.median(times),
        "repull_present_s": repull,
        "get_s": get,
        "image_size_bytes": image.size,
        "cache_blobs_bytes": du(store.layout.blobs),
        "cache_rootfs_bytes": du(image.rootfs),
        "cache_total_bytes": du(store.root),
        "rootfs_files": files,
    }


def podman(root: Path, driver: str) -> list[str]:
    return [
        "podman",
        "--root",
        str(root / "root"),
        "--runroot",
        str(root / "run"),
        "--storage-driver",
        driver,
    ]


def podman_pulls(reference: str, repeat: int, work: Path) -> dict[str, object]:
    if shutil.which("podman") is None:
        return {"skipped": "podman is not installed"}
    times: list[float] = []
    driver = "overlay"
    for i in range(repeat):
        root = work / f"podman-{i}"
        for attempt in ("overlay", "vfs") if i == 0 else (driver,):
            shutil.rmtree(root, ignore_errors=True)
            argv = [*podman(root, attempt), "pull", "-q", "--tls-verify=false", f"docker://{reference}"]
            start = time.perf_counter()
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
            elapsed = time.perf_counter() - start
            if done.returncode == 0:
                driver = attempt
                times.append(elapsed)
                break
        else:
            return {"skipped": f"podman pull failed: {done.stderr.strip()[-300:]}"}
    disk = du(work / f"podman-{repeat - 1}" / "root")
    for i in range(repeat):
        # podman leaves overlay mounts behind under its root; unmount before removing.
        subprocess.run(
            [*podman(work / f"podman-{i}", driver), "system", "reset", "-f"], capture_output=True, check=False
        )
    return {"driver": driver, "pull_s": times, "pull_median_s": statistics.median(times), "disk_bytes": disk}


# HOOK (run side): warm start of 1 and 50 replicas of `reference` to Ready through the engine
# (one overlay per container over the tree pulled above), and `podman run` of the same image beside
# it, go here; they need the runtime's image support, which the image store does not own.


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    if missing_tools():
        print(f"skipped: needs {', '.join(missing_tools())}")
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-images-") as tmp:
        work = Path(tmp)
        nginx = find_nginx(Path(tempfile.gettempdir()) / "hitless-bench-nginx")
        if nginx is None:
            print("skipped: no nginx binary (install nginx, or allow apt-get download nginx)")
            return 0
        registry = Registry(work / "registry").start()
        try:
            layout = work / "layout"
            build_nginx_image(layout, "nginx", nginx)
            registry.push(f"oci:{layout}:nginx", "library/nginx:1.27")
            mirror = f"docker.io=http://{registry.host}"
            ours = asyncio.run(cold_pulls("nginx:1.27", mirror, args.repeat, work))
            theirs = podman_pulls(f"{registry.host}/library/nginx:1.27", args.repeat, work)
        finally:
            registry.stop()
    result = {"image": "nginx:1.27 (Debian nginx + ldd libraries)", "hitless": ours, "podman": theirs}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    mb = 1e6
    size = ours["image_size_bytes"]
    assert isinstance(size, int)
    print(f"image: {result['image']}, {size / mb:.1f} MB compressed, {ours['rootfs_files']} files")
    cold = ours["cold_pull_s"]
    assert isinstance(cold, list)
    print(f"hitless cold pull + unpack: median {ours['cold_pull_median_s']:.3f} s "
          f"(min {min(cold):.3f}, max {max(cold):.3f}, n={len(cold)})")  # fmt: skip
    print(f"hitless re-pull of a present image (Always): {ours['repull_present_s'] * 1000:.1f} ms")
    print(f"hitless get (IfNotPresent): {ours['get_s'] * 1e6:.0f} µs")
    print(
        f"cache disk: blobs {ours['cache_blobs_bytes'] / mb:.1f} MB + unpacked tree "
        f"{ours['cache_rootfs_bytes'] / mb:.1f} MB = {ours['cache_total_bytes'] / mb:.1f} MB (once per image)"
    )
    if "skipped" in theirs:
        print(f"podman pull: {theirs['skipped']}")
    else:
        print(f"podman pull ({theirs['driver']}): median {theirs['pull_median_s']:.3f} s; "
              f"disk {theirs['disk_bytes'] / mb:.1f} MB")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
