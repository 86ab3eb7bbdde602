"""How an unpacked tree's owners were written, and so which runs may use it.

A tree unpacked by root keeps every owner of the image. One unpacked in a user namespace keeps
the owners that namespace maps (through its id map, to ids of the machine) and flattens the
others to the namespace's root; with only one id mapped (a normal user's ``hitless images
pull``, an engine without subordinate ids) every file belongs to that user. The same image
unpacked these ways gives trees that differ on disk, and a run that takes the wrong one runs
the image's USER over files it does not own. So the cache keeps one tree per way, side by
side (``rootfs/<manifest hex>.<variant>``), as podman keeps layers per id mapping
(containers/storage's layers record their ``UIDMap``/``GIDMap``): a run uses or makes the one
its own ids give, and never rewrites another's.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any, Literal

# An id map line as /proc/PID/uid_map shows it: first id inside, first id outside, how many.
IdMap = tuple[tuple[int, int, int], ...]
ALL_IDS = 0xFFFFFFFF


@dataclass(frozen=True)
class Owners:
    """``root``: owners kept as they are; ``mapped``: kept through ``uid_map``/``gid_map`` (ids
    beyond them flattened to the map's 0); ``flattened``: every file owned by ``uid``:``gid``."""

    kind: Literal["root", "mapped", "flattened"]
    uid_map: IdMap = ()
    gid_map: IdMap = ()

    @property
    def uid(self) -> int:
        return _outside(self.uid_map, 0) if self.uid_map else 0

    @property
    def gid(self) -> int:
        return _outside(self.gid_map, 0) if self.gid_map else 0

    @property
    def variant(self) -> str:
        """The tree's name suffix: ``root``, ``flat-1000-1000``, ``map-<hash of the maps>``."""
        if self.kind == "root":
            return "root"
        if self.kind == "flattened":
            return f"flat-{self.uid}-{self.gid}"
        maps = json.dumps([self.uid_map, self.gid_map]).encode()
        return "map-" + hashlib.sha256(maps).hexdigest()[:16]

    def record(self) -> dict[str, Any]:
        """What ``rootfs/<hex>.<variant>.json`` says of the tree."""
        out: dict[str, Any] = {"owners": self.kind}
        if self.kind == "flattened":
            out.update(uid=self.uid, gid=self.gid)
        elif self.kind == "mapped":
            out.update(uidMap=[list(m) for m in self.uid_map], gidMap=[list(m) for m in self.gid_map])
        return out


def read_map(path: str) -> IdMap:
    try:
        with open(path) as f:
            rows = [line.split() for line in f]
        return tuple((int(r[0]), int(r[1]), int(r[2])) for r in rows if r)
    except (OSError, ValueError, IndexError):
        return ((0, 0, ALL_IDS),)


def current(rootless: bool | None = None) -> Owners:
    """The owners an unpack by this process writes (flatten.unpack decides the same way).

    ``rootless`` (default: not running as root) is a normal user's unpack: in a user namespace
    of its own mapping only the user's ids (``unshare --map-root-user``)."""
    uid_map, gid_map = read_map("/proc/self/uid_map"), read_map("/proc/self/gid_map")
    if rootless if rootless is not None else os.geteuid() != 0:
        return Owners(
            "flattened",
            ((0, _outside(uid_map, os.geteuid()), 1),),
            ((0, _outside(gid_map, os.getegid()), 1),),
        )
    return of_maps(uid_map, gid_map)


def of_maps(uid_map: IdMap, gid_map: IdMap) -> Owners:
    if sum(n for _, _, n in uid_map) >= ALL_IDS and sum(n for _, _, n in gid_map) >= ALL_IDS:
        return Owners("root")
    if sum(n for _, _, n in uid_map) == 1 and sum(n for _, _, n in gid_map) == 1:
        # Only the namespace's 0 is mapped: the tree is the user's, whichever way it got there.
        return Owners("flattened", ((0, _outside(uid_map, 0), 1),), ((0, _outside(gid_map, 0), 1),))
    return Owners("mapped", tuple(sorted(uid_map)), tuple(sorted(gid_map)))


def _outside(id_map: IdMap, inside: int) -> int:
    for first, outside, count in id_map:
        if first <= inside < first + count:
            return outside + inside - first
    return inside
