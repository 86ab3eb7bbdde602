"""tmpfs for ``emptyDir.medium: Memory`` and Secret volumes (pkg/volume/emptydir setupTmpfs).

Mounted in the engine's own mount namespace (``bootstrap`` made it private), so nothing shows on
the host and everything goes when the engine does. Outside that namespace (a test run in the
host's) the kubelet is told not to mount, and memory-backed volumes fall back to a directory.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path

MS_NOSUID = 0x2
MS_NODEV = 0x4
MNT_DETACH = 0x2

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.mount.restype = ctypes.c_int
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.umount2.restype = ctypes.c_int


def available() -> bool:
    """Whether this engine may mount: root in a mount namespace that bootstrap made its own."""
    from hitless.runtime.linux import bootstrap

    return bootstrap.current() is not None and os.geteuid() == 0


def mount_tmpfs(path: Path, size: int | None = None) -> None:
    options = f"size={size}".encode() if size else None
    if _libc.mount(b"tmpfs", str(path).encode(), b"tmpfs", MS_NOSUID | MS_NODEV, options) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount tmpfs at {path}: {os.strerror(err)}")


def unmount(path: Path) -> None:
    """Detach whatever is mounted at ``path``; nothing there is fine."""
    _libc.umount2(str(path).encode(), MNT_DETACH)


def is_mount_point(path: Path) -> bool:
    try:
        return os.path.ismount(path)
    except OSError:
        return False
