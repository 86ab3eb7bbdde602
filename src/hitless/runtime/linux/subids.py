"""Subordinate id ranges for an unprivileged engine: shadow-utils' ``newuidmap``/``newgidmap``.

A normal user's engine is root of a user namespace of its own. Mapping only the user's own uid
and gid there (what any process may do for itself) leaves every other id unmapped: an image whose
files or USER need them cannot run as it would on a node. The user's ranges in ``/etc/subuid`` and
``/etc/subgid`` (Debian's ``useradd`` allocates them; package ``uidmap``) fix that, but only the
setuid ``newuidmap``/``newgidmap`` may write such maps, and from outside the new namespace. So P
forks a helper before it unshares; once P is in its new user namespace the helper maps it as
podman does (``0 <uid> 1``, then ``1 <start> <count>``), and ``setgroups`` stays allowed.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass

SUBUID = "/etc/subuid"
SUBGID = "/etc/subgid"

# The helper's exit status: what it mapped.
MAPPED_BOTH, MAPPED_UID_ONLY, MAPPED_NONE = 0, 1, 2


@dataclass(frozen=True)
class Range:
    start: int
    count: int


def find_range(path: str, name: str, uid: int) -> Range | None:
    """The first range of ``name`` (or of the uid as a number) in a subuid/subgid file."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.strip().split(":")
        if len(parts) != 3 or parts[0] not in (name, str(uid)):
            continue
        if parts[1].isdigit() and parts[2].isdigit() and int(parts[2]) > 0:
            return Range(int(parts[1]), int(parts[2]))
    return None


class MapHelper:
    """A child of P, still in the user's namespace, that maps P's new user namespace."""

    def __init__(self, pid: int, go: int, count: int) -> None:
        self.pid = pid
        self._go = go
        # How many subordinate ids it maps after the user's own (both files' ranges allow it).
        self.count = count

    @classmethod
    def start(cls, uid: int, gid: int) -> MapHelper | None:
        """Fork the helper (call it before ``unshare(CLONE_NEWUSER)``, single-threaded); None when
        the tools or the user's ranges are missing."""
        newuidmap, newgidmap = shutil.which("newuidmap"), shutil.which("newgidmap")
        if newuidmap is None or newgidmap is None:
            return None
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:
            name = str(uid)
        uids, gids = find_range(SUBUID, name, uid), find_range(SUBGID, name, uid)
        if uids is None or gids is None:
            return None
        count = min(uids.count, gids.count)
        target = os.getpid()
        go_r, go_w = os.pipe()
        try:
            child = os.fork()
        except OSError:
            os.close(go_r)
            os.close(go_w)
            return None  # the user's own ids only, as without a range
        if child == 0:  # pragma: no cover (a forked child; its exit status is the result)
            os.close(go_w)
            code = MAPPED_NONE
            try:
                if os.read(go_r, 1) == b"x":
                    maps = (
                        (newuidmap, uid, uids, MAPPED_NONE),
                        (newgidmap, gid, gids, MAPPED_UID_ONLY),
                    )
                    code = MAPPED_BOTH
                    for tool, own, sub, failed in maps:
                        argv = [tool, str(target), "0", str(own), "1", "1", str(sub.start), str(count)]
                        quiet = subprocess.DEVNULL
                        if subprocess.run(argv, stdin=quiet, stdout=quiet, stderr=quiet).returncode != 0:
                            code = failed
                            break
            finally:
                os._exit(code)
        os.close(go_r)
        return cls(child, go_w, count)

    def finish(self, unshared: bool) -> int:
        """Let the helper map P (if P did unshare) and wait for it: ``MAPPED_*``."""
        try:
            if unshared:
                os.write(self._go, b"x")
        finally:
            os.close(self._go)
        _, status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(status)
