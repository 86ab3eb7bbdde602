"""Leases: which images a running `hitless up` or `verify` uses, so that prune leaves them be.

containerd keeps a lease on the content and snapshots a container uses, and its garbage
collector skips what a lease holds. Here a run holds one lease in the cache:

```
<root>/leases/<id>.lock     flock(LOCK_EX)ed by the run for its whole life
<root>/leases/<id>.json     the manifest digests (and references) it uses, rewritten whole
```

The lock dies with the process that holds it, so the lease of a run killed with SIGKILL ends
there too: prune finds its lock free, takes it, and removes both files. A run adds an image to
its lease under the cache's shared lock (the one pulls hold), so prune, which holds that lock
alone, sees every lease that could name an image it is about to remove.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

LEASES = "leases"


@dataclass(frozen=True)
class Held:
    """A live lease: who holds it and the images it names."""

    pid: int
    images: dict[str, str]  # manifest digest -> reference


class Lease:
    """The lease of this run; made on the first image it names, ended by :meth:`release`."""

    def __init__(self, root: Path) -> None:
        self.dir = root / LEASES
        self._id = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._fd = -1
        self.images: dict[str, str] = {}

    def add(self, manifest_digest: str, reference: str) -> None:
        """Name an image as in use (call it under the cache's shared lock)."""
        if self.images.get(manifest_digest) == reference:
            return
        if self._fd < 0:
            self.dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.dir / f"{self._id}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX)  # a file of our own: at once
            self._fd = fd
            # Held until the process ends, not until the store is closed: every node of a run
            # closes the store they share, and a node may go before the run does. A run that
            # never gets here (SIGKILL) leaves files whose lock is free: prune removes them.
            atexit.register(self.release)
        self.images[manifest_digest] = reference
        body = json.dumps({"pid": os.getpid(), "images": self.images}, sort_keys=True).encode()
        temp = self.dir / f".{self._id}.json.tmp"
        temp.write_bytes(body)
        os.replace(temp, self.dir / f"{self._id}.json")

    def release(self) -> None:
        if self._fd < 0 or os.getpid() != int(self._id.split("-")[0]):
            return
        for suffix in (".json", ".lock"):
            with contextlib.suppress(OSError):
                (self.dir / f"{self._id}{suffix}").unlink()
        os.close(self._fd)
        self._fd = -1
        self.images = {}


def live_leases(root: Path) -> list[Held]:
    """Every lease whose run is alive; the files of dead runs' leases are removed (call it
    under the cache's exclusive lock, so that no lease is being made meanwhile)."""
    directory = root / LEASES
    try:
        locks = sorted(directory.glob("*.lock"))
    except OSError:
        return []
    held: list[Held] = []
    for lock in locks:
        lease_id = lock.name.removesuffix(".lock")
        try:
            # Read-only: flock needs no more, and another user's lease (0644) opens so too.
            fd = os.open(lock, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue  # released meanwhile
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                try:
                    data = json.loads((directory / f"{lease_id}.json").read_text())
                    held.append(Held(int(data["pid"]), dict(data["images"])))
                except (OSError, ValueError, KeyError, TypeError):
                    # A live run whose lease names nothing readable yet: nothing to keep for it.
                    pass
                continue
            # Nobody holds it: its run is gone.
            for stale in (directory / f"{lease_id}.json", lock):
                with contextlib.suppress(OSError):
                    stale.unlink()
        finally:
            os.close(fd)
    return held
