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

import pytest

import hitless
from hitless.runtime.linux.subids import SUBGID, SUBUID, Range, find_range

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
        env = {
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(SRC),
            "PYTHONDONTWRITEBYTECODE": "1",
            "HOME": str(work),
        }
        proc = subprocess.run(
            ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups", "--",
             sys.executable, str(SCRIPT), str(work)],
            capture_output=True, text=True, timeout=60, env=env, cwd="/",
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout.splitlines()[-1])
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
    finally:
        shutil.rmtree(work, ignore_errors=True)
