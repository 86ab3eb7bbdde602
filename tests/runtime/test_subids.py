"""An unprivileged engine with subordinate ids (runtime/linux/subids.py): run for real as a user
that has /etc/subuid and /etc/subgid ranges (.ci/run makes one, ``hitless-subids``), the image's
USER and groups are taken as on a node, and a chown to ids beyond the user's own works."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

import hitless
from hitless.runtime.linux.subids import SUBGID, SUBUID, Range, find_range
from tests.images.builders import Entry, layer_tar, write_oci_layout

from .busybox_rootfs import available

USER = "hitless-subids"
SCRIPT = Path(__file__).with_name("subids_script.py")
SRC = Path(hitless.__file__).resolve().parents[1]


def _user() -> pwd.struct_passwd | None:
    try:
        entry = pwd.getpwnam(USER)
    except KeyError:
        return None
    ranges = [find_range(f, USER, entry.pw_uid) for f in (SUBUID, SUBGID)]
    return entry if all(ranges) and shutil.which("newuidmap") and shutil.which("newgidmap") else None


def _unreachable(path: str) -> Path | None:
    """The first directory on the way to ``path`` (symlinks followed) that others cannot search:
    a venv made from an interpreter under /root, as on a developer's machine."""
    seen = Path(path).absolute()
    for target in (seen, Path(os.path.realpath(path))):
        for parent in reversed(target.parents):
            if not os.stat(parent).st_mode & 0o001:
                return parent
    return None


def test_find_range(tmp_path: Path) -> None:
    subuid = tmp_path / "subuid"
    subuid.write_text("alice:100000:65536\n# x\n1001:300000:1000\nbad line\nbob:200000:0\n")
    assert find_range(str(subuid), "alice", 1000) == Range(100000, 65536)
    assert find_range(str(subuid), "carol", 1001) == Range(300000, 1000)  # by uid
    assert find_range(str(subuid), "bob", 7) is None  # an empty range is none
    assert find_range(str(tmp_path / "missing"), "alice", 1000) is None


@pytest.mark.skipif(
    os.geteuid() != 0 or not available(), reason="needs root (to become the user) and busybox"
)
def test_an_unprivileged_engine_maps_its_subordinate_ids() -> None:
    entry = _user()
    if entry is None:
        pytest.skip(f"needs a user {USER} with /etc/subuid and /etc/subgid ranges and newuidmap (.ci/run)")
    if (hidden := _unreachable(sys.executable)) is not None:
        pytest.skip(f"{USER} cannot reach this interpreter ({hidden} is not searchable by others)")
    work = Path(tempfile.mkdtemp(prefix="hitless-subids-"))
    try:
        os.chown(work, entry.pw_uid, entry.pw_gid)
        # The user pulls an image first, outside any engine: its owners flatten to the user.
        layer = layer_tar([
            Entry("srv", "dir", mode=0o755),
            Entry("srv/www", "dir", mode=0o750, uid=33, gid=44),
            Entry("srv/www/index.html", data=b"hi", uid=33, gid=44),
        ])  # fmt: skip
        write_oci_layout(work / "owned", "docker.io/library/owned:1", [layer])
        cache = work / "ranged/cache"
        pull = ["-m", "hitless", "images", "pull", "docker.io/library/owned:1", "--image-cache", str(cache)]
        _run_as(entry, work, *pull, "--image-archive", str(work / "owned"))
        report = _run_script(entry, work)
        # The user's own id as 0, then its range: 65536 subordinate ids (500000000-500065535 in .ci/run).
        assert report["mapped_ids"] > 65536
        # The image's "www" (1000, its group 1000 and "logs" 2000) plus the pod's group 3000,
        # set for PID 1 and for the exec: setgroups is allowed with a range.
        assert report["exec"] == ["1000", "1000 2000 3000", ""]
        assert report["user"] == [1000, 1000, [1000, 2000, 3000]]
        # Root of the container may give files to the image's other ids.
        assert report["chown"] == [0, "33:44"]
        # An unpack keeps an image's owners in the range; one beyond it flattens to the user (0).
        assert report["owners"] == {"www": "33:44", "far": "0:0"}
        # ...and the cache files that tree as one made through this mapping (images/owners.py).
        own = [0, entry.pw_uid, 1]
        assert report["unpacked_as"] == {
            "owners": "mapped",
            "uidMap": [own, [1, *_range(SUBUID, entry)]],
            "gidMap": [[0, entry.pw_gid, 1], [1, *_range(SUBGID, entry)]],
        }
        # The engine took the content the user pulled as present and unpacked its own tree,
        # owners kept through its map, beside the user's flattened one (images/owners.py).
        variant, owner = report["pulled"]
        assert variant.startswith("map-") and owner == "33:44"
        trees = sorted(p.partition(".")[2] for p in os.listdir(cache / "rootfs") if not p.endswith(".json"))
        assert trees == [f"flat-{entry.pw_uid}-{entry.pw_gid}", variant, variant]  # and the script's own
        # Its user prunes it from outside the namespace (`hitless images prune`): the files of
        # its subordinate ids go too, removed through the same map (layout.remove_tree).
        pruned = _run_as(entry, work, "-m", "hitless", "images", "prune", "--all", f"--image-cache={cache}")
        assert " blobs and 3 unpacked trees; reclaimed " in pruned
        assert os.listdir(cache / "rootfs") == os.listdir(cache / "tmp") == []
        # gid 5 (tty) is mapped: new ptys belong to it, as runc's default devpts has them
        # (mountinfo shows the machine's id of it: the range's start + 4, 0 being the user's).
        tty = _range(SUBGID, entry)[0] + 4
        assert report["pts"] == f"devpts devpts rw,gid={tty},mode=620,ptmxmode=666"
        # The same user without its ranges: only its own id, no gid= (gid 5 is not mapped).
        single = _run_script(entry, work, "single")
        assert single["mapped_ids"] == 1
        assert single["pts"] == "devpts devpts rw,mode=620,ptmxmode=666"
        assert single["owners"] == {"owners": "flattened", "uid": entry.pw_uid, "gid": entry.pw_gid}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _range(path: str, entry: pwd.struct_passwd) -> list[int]:
    found = find_range(path, entry.pw_name, entry.pw_uid)
    assert found is not None
    return [found.start, found.count]


def _run_script(entry: pwd.struct_passwd, work: Path, *extra: str) -> dict[str, Any]:
    out = _run_as(entry, work, str(SCRIPT), str(work / (extra[0] if extra else "ranged")), *extra)
    report: dict[str, Any] = json.loads(out.splitlines()[-1])
    return report


def _run_as(entry: pwd.struct_passwd, work: Path, *argv: str) -> str:
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(SRC),
        "PYTHONDONTWRITEBYTECODE": "1",
        "HOME": str(work),
    }
    proc = subprocess.run(
        ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups", "--",
         sys.executable, *argv],
        capture_output=True, text=True, timeout=60, env=env, cwd="/",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()
