"""An unprivileged engine with a subordinate id range, in miniature (tests/runtime/test_subids.py).

Run as ``python subids_script.py DIR [single]`` by a user with /etc/subuid and /etc/subgid
ranges. Prints one JSON line: the engine's id map, what an image container running as the
image's user "www" (with a supplemental group) and an exec in it see, a chown to ids outside the
user's own, its /dev/pts mount, and how the engine's unpacks write owners. With ``single``, the
user's ranges are not used (as for a user without them): a container as root, its /dev/pts and
the owners only.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from hitless.runtime.linux import enter_engine_namespaces, subids

SINGLE = sys.argv[2:] == ["single"]
if SINGLE:
    subids.MapHelper.start = lambda uid, gid: None  # type: ignore[method-assign]
engine = enter_engine_namespaces()

from hitless.runtime.cri import ContainerConfig, PodSandboxConfig  # noqa: E402
from hitless.runtime.linux import LinuxRuntime  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.runtime.busybox_rootfs import make_rootfs  # noqa: E402

ENV = {"PATH": "/bin"}
OWNED = "docker.io/library/owned:1"
PTS = ["sh", "-c", "grep ' /dev/pts ' /proc/self/mountinfo | sed 's/.* - //'"]


async def single(rt: LinuxRuntime, sandbox: str, root: Path) -> None:
    from hitless.images.owners import current

    cid = await rt.create_container(sandbox, ContainerConfig("root", PTS, ENV, None, 0, rootfs=root))
    await rt.start_container(cid)
    status = await rt.wait_container(cid)
    assert status.log_path is not None and status.exit_code == 0, status
    pts = status.log_path.read_text().strip().split(" ", 3)[-1]
    print(json.dumps({"mapped_ids": engine.mapped_ids, "pts": pts, "owners": current().record()}), flush=True)


async def main(work: Path) -> None:
    root = make_rootfs(work / "rootfs")
    rt = LinuxRuntime()
    try:
        sandbox = await rt.run_pod_sandbox(PodSandboxConfig("p", "default", "p", "p", work / "logs"))
        if SINGLE:
            await single(rt, sandbox, root)
            return
        config = ContainerConfig(
            "app", ["sleep", "30"], ENV, None, 0, rootfs=root, user="www", supplemental_groups=(3000,)
        )
        cid = await rt.create_container(sandbox, config)
        await rt.start_container(cid)
        result = await rt.exec_sync(cid, ["sh", "-c", "id -u; id -G"], 5)
        pts = (await rt.exec_sync(cid, PTS, 5)).output.decode().strip()
        chown = "touch /tmp/f && chown 33:44 /tmp/f && stat -c '%u:%g' /tmp/f"
        root_config = ContainerConfig("root", ["sh", "-c", chown], ENV, None, 0, rootfs=root)
        other = await rt.create_container(sandbox, root_config)
        await rt.start_container(other)
        status = await rt.wait_container(other)
        assert status.log_path is not None
        # An image layer with owners in the range and beyond it, unpacked by the engine.
        from hitless.images.flatten import commit_tree, unpack
        from hitless.images.layout import Layout
        from hitless.images.owners import current
        from tests.images.builders import Entry, layer_tar

        layout = Layout(work / "cache")
        layout.ensure()
        owned = layer_tar([
            Entry("srv", "dir", mode=0o755),
            Entry("srv/www", "dir", mode=0o750, uid=33, gid=44),
            Entry("srv/www/index.html", data=b"x", uid=33, gid=44),
            Entry("srv/far", data=b"x", uid=70000, gid=70000),
        ])  # fmt: skip
        temp = await unpack(layout, [layout.put_blob(owned)])
        # Filed as the cache files it (an image nobody names: the next prune removes it).
        tree = layout.rootfs("sha256:" + "0" * 64, current().variant)
        commit_tree(layout, temp, tree, current())
        owners = {
            n: f"{(tree / 'srv' / n).lstat().st_uid}:{(tree / 'srv' / n).lstat().st_gid}"
            for n in ("www", "far")
        }
        # The user's `hitless images pull` (the test's, before) flattened OWNED: not taken here;
        # this engine's pods get a tree of its own, unpacked from the cache, owners kept.
        from hitless.images import ImageStore

        store = ImageStore(work / "cache")
        assert store.get(OWNED) is None
        image = await store.unpack_present(OWNED)
        assert image is not None
        www = (image.rootfs / "srv/www/index.html").lstat()
        print(
            json.dumps(
                {
                    "mapped_ids": engine.mapped_ids,
                    "owners": owners,
                    "unpacked_as": current().record(),
                    "pts": pts,
                    "pulled": [image.rootfs.name.partition(".")[2], f"{www.st_uid}:{www.st_gid}"],
                    "exec": result.output.decode().split("\n"),
                    "user": rt.container_status(cid).user,
                    "chown": [status.exit_code, status.log_path.read_text().split(" ", 3)[-1].strip()],
                }
            ),
            flush=True,
        )
    finally:
        await rt.shutdown()


asyncio.run(main(Path(sys.argv[1])))
