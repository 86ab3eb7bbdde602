"""Pulling from a real registry on loopback: manifests, indexes, compression, mirrors, the cache."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

import hitless.images.store as store_module
from hitless.images import ImagePullError, ImageStore, InvalidImageName, PullOptions
from tests.images.conftest import Built
from tests.images.oci import BUSYBOX, Registry, run


def _same_file(a: Path, b: Path) -> bool:
    return a.read_bytes() == b.read_bytes()


def _store(tmp_path: Path, registry: Registry | None = None, **options: object) -> ImageStore:
    mirrors = PullOptions.parse_mirrors([f"docker.io=http://{registry.host}"]) if registry else {}
    return ImageStore(tmp_path / "cache", PullOptions(mirrors=mirrors, **options))  # type: ignore[arg-type]


def _assert_clean(store: ImageStore) -> None:
    """Nothing half-written: no temp files, and every tree belongs to a named image."""
    assert list(store.layout.tmp.iterdir()) == []
    named = {p.name for e in store.layout.entries() for p in store.layout.trees(e.manifest_digest).values()}
    named |= {f"{name}.json" for name in named}  # each tree's owners record
    assert {p.name for p in store.layout.rootfs_dir.iterdir()} <= named


async def test_pull_through_mirror_matches_skopeo(tmp_path: Path, registry: Registry, built: Built) -> None:
    store = _store(tmp_path, registry)
    image = await store.pull("busybox:1.36")
    assert image.reference == "docker.io/library/busybox:1.36"
    inspect = json.loads(
        run("skopeo", "inspect", "--tls-verify=false", f"docker://{registry.host}/library/busybox:1.36")
    )
    assert image.digest == inspect["Digest"]
    assert image.repo_digest == f"docker.io/library/busybox@{inspect['Digest']}"
    raw_config = json.loads(
        run(
            "skopeo",
            "inspect",
            "--tls-verify=false",
            "--raw",
            "--config",
            f"docker://{registry.host}/library/busybox:1.36",
        )
    )
    assert image.config.entrypoint == ["/bin/httpd"]
    assert image.config.cmd == ["-f", "-p", "8080"]
    assert image.config.env == raw_config["config"]["Env"] == ["PATH=/bin"]
    assert (image.config.working_dir, image.config.user, image.config.stop_signal) == (
        "/www",
        "65534",
        "SIGTERM",
    )
    assert image.config.exposed_ports == ("8080/tcp",)
    assert image.config.labels == {"org.example.test": "busybox"}
    assert _same_file(image.rootfs / "bin/busybox", BUSYBOX)
    assert (image.rootfs / "www/index.html").read_text() == "hello from the image\n"
    assert image.size > 500_000
    # Present now: get() finds it without the network, by tag and by digest.
    assert store.get("busybox:1.36") == image
    by_digest = store.get(f"busybox@{image.digest}")
    assert by_digest is not None and by_digest.rootfs == image.rootfs
    assert store.get("busybox:other") is None
    # The cache is an OCI layout skopeo reads.
    cached = json.loads(run("skopeo", "inspect", f"oci:{store.root}:docker.io/library/busybox:1.36"))
    assert cached["Digest"] == image.digest
    _assert_clean(store)


async def test_multi_platform_index_gives_the_host_platform(
    tmp_path: Path, registry: Registry, built: Built
) -> None:
    store = _store(tmp_path)
    image = await store.pull(f"{registry.host}/test/multi:1")
    inspect = json.loads(
        run("skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{registry.host}/test/multi:1")
    )
    assert inspect["mediaType"] == "application/vnd.oci.image.index.v1+json"
    # imageID names the index, as containerd reports it; the tree is the amd64 image's.
    assert image.digest is not None and image.digest != image.manifest_digest
    assert (image.rootfs / "bin/busybox").exists()
    assert not (image.rootfs / "ARM64").exists()
    arm = _store(tmp_path / "arm", platform=store.options.platform.__class__(architecture="arm64"))
    arm_image = await arm.pull(f"{registry.host}/test/multi:1")
    assert (arm_image.rootfs / "ARM64").read_text() == "arm64\n"
    riscv = _store(tmp_path / "riscv", platform=store.options.platform.__class__(architecture="riscv64"))
    with pytest.raises(ImagePullError, match="no match for platform in manifest") as err:
        await riscv.pull(f"{registry.host}/test/multi:1")
    assert err.value.cause == "not found"


async def test_zstd_layers(tmp_path: Path, registry: Registry, built: Built) -> None:
    store = _store(tmp_path)
    raw = json.loads(
        run("skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{registry.host}/test/zstd:1")
    )
    assert raw["layers"][0]["mediaType"].endswith("+zstd")
    image = await store.pull(f"{registry.host}/test/zstd:1")
    assert _same_file(image.rootfs / "bin/busybox", BUSYBOX)


async def test_concurrent_pulls_share_one_and_unpack_once(
    tmp_path: Path, registry: Registry, built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(tmp_path)
    unpacks = 0
    real_unpack = store_module.unpack

    async def counting_unpack(*args: object, **kwargs: object) -> Path:
        nonlocal unpacks
        unpacks += 1
        return await real_unpack(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store_module, "unpack", counting_unpack)
    ref = f"{registry.host}/library/busybox:1.36"
    images = await asyncio.gather(*(store.pull(ref) for _ in range(5)))
    assert all(i == images[0] for i in images)
    assert unpacks == 1
    # A second store on the same root (another run): the tree is there, no second unpack.
    again = await ImageStore(store.root, store.options).pull(ref)
    assert again.rootfs == images[0].rootfs and unpacks == 1
    # The same image under another name shares the tree too.
    other = await _store(tmp_path, registry).pull("busybox:1.36")
    assert other.rootfs == images[0].rootfs and unpacks == 1


async def test_unknown_image_and_tag(tmp_path: Path, registry: Registry, built: Built) -> None:
    store = _store(tmp_path, registry)
    with pytest.raises(ImagePullError) as err:
        await store.pull("busybox:nope")
    assert err.value.reason == "ErrImagePull" and err.value.cause == "not found"
    assert str(err.value).startswith(
        'failed to pull and unpack image "docker.io/library/busybox:nope": failed to resolve reference '
        '"docker.io/library/busybox:nope": docker.io/library/busybox:nope: not found'
    )
    with pytest.raises(ImagePullError, match="not found"):
        await store.pull("nosuchimage")
    assert store.get("busybox:nope") is None
    _assert_clean(store)


async def test_invalid_name(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with pytest.raises(InvalidImageName) as err:
        await store.pull("Nginx:1.27")
    assert err.value.reason == "InvalidImageName"
    assert str(err.value) == (
        'couldn\'t parse image name "Nginx:1.27": invalid reference format: repository name (library/Nginx) '
        "must be lowercase"
    )
    with pytest.raises(InvalidImageName):
        store.get("nginx:")


async def test_digest_mismatch_leaves_nothing(tmp_path: Path, registry: Registry, built: Built) -> None:
    store = _store(tmp_path)
    with pytest.raises(ImagePullError) as err:
        await store.pull(f"{registry.host}/test/corrupt:1")
    assert err.value.cause == "digest mismatch"
    assert built.corrupt_layer in str(err.value)
    assert not store.layout.has_blob(built.corrupt_layer)
    assert store.get(f"{registry.host}/test/corrupt:1") is None
    _assert_clean(store)


async def test_pinned_digest_must_match(tmp_path: Path, registry: Registry, built: Built) -> None:
    store = _store(tmp_path)
    image = await store.pull(f"{registry.host}/library/busybox:1.36")
    pinned = await store.pull(f"{registry.host}/library/busybox@{image.digest}")
    assert pinned.rootfs == image.rootfs
    wrong = "sha256:" + "0" * 64
    with pytest.raises(ImagePullError):
        await store.pull(f"{registry.host}/library/busybox@{wrong}")


async def test_prune(tmp_path: Path, registry: Registry, built: Built) -> None:
    store = _store(tmp_path)
    busybox = await store.pull(f"{registry.host}/library/busybox:1.36")
    layered = await store.pull(f"{registry.host}/test/layered:1")
    (store.layout.tmp / "rootfs-leftover").mkdir()  # an interrupted pull's leftovers
    result = store.prune({f"{registry.host}/test/layered:1"})
    assert result.references == [f"{registry.host}/test/layered:1"]
    assert result.trees == 1 and result.blobs >= 2 and result.bytes_freed > 0
    assert not layered.rootfs.exists() and busybox.rootfs.exists()
    assert store.get(f"{registry.host}/library/busybox:1.36") == busybox
    assert list(store.layout.tmp.iterdir()) == []
    store.prune(all_images=True)
    assert store.list_images() == [] and not busybox.rootfs.exists()
    assert list(store.layout.blobs.iterdir()) == []


# Another process's run: a store with a lease that looks an image up, as `hitless up` does
# before it starts a container of it, then waits (stdin) until the test ends or kills it.
_RUN = """
import sys
from pathlib import Path
from hitless.images import ImageStore
store = ImageStore(Path(sys.argv[1]), lease=True)
assert store.get(sys.argv[2]) is not None
print("ready", flush=True)
sys.stdin.read()
"""


async def test_prune_keeps_what_a_running_hitless_uses(
    tmp_path: Path, registry: Registry, built: Built
) -> None:
    store = _store(tmp_path)
    busybox = await store.pull(f"{registry.host}/library/busybox:1.36")
    layered = await store.pull(f"{registry.host}/test/layered:1")
    run = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _RUN, str(store.root), busybox.reference,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert run.stdout is not None
        assert await asyncio.wait_for(run.stdout.readline(), 30) == b"ready\n"
        result = store.prune(all_images=True)
        # The leased image keeps its name, blobs and tree; the other one goes.
        assert (result.references, result.in_use) == ([layered.reference], [busybox.reference])
        assert busybox.rootfs.is_dir() and not layered.rootfs.exists()
        assert store.get(busybox.reference) == busybox
        run.kill()  # SIGKILL: the lease dies with its lock
        await run.wait()
        result = store.prune(all_images=True)
        assert (result.references, result.in_use) == ([busybox.reference], [])
        assert not busybox.rootfs.exists() and list((store.root / "leases").iterdir()) == []
    finally:
        if run.returncode is None:
            run.kill()
        await run.communicate()


async def test_a_cancelled_waiter_leaves_the_shared_pull_running(
    tmp_path: Path, registry: Registry, built: Built
) -> None:
    store = _store(tmp_path)
    ref = f"{registry.host}/test/layered:1"
    first = asyncio.ensure_future(store.pull(ref))
    await asyncio.sleep(0)  # the shared pull has started
    shared = store._pulls[str(ref)]
    first.cancel()
    image = await store.pull(ref)  # joins the same pull, which the cancellation did not stop
    assert shared.done() and not shared.cancelled() and shared.result() == image
    assert first.cancelled() and store._pulls == {}
    _assert_clean(store)
    # The engine stopping cancels what is still in flight.
    other = asyncio.ensure_future(store.pull(f"{registry.host}/test/zstd:1"))
    await asyncio.sleep(0)
    await store.aclose()
    assert store._pulls == {}
    with pytest.raises(asyncio.CancelledError):
        await other
