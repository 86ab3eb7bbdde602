"""The few Linux system calls Python 3.11 does not expose, through ctypes.

Namespaces are per *thread* on Linux (``unshare``/``setns`` change the calling task only), which
is what lets the runtime keep one thread per sandbox parked inside the sandbox's namespaces
while the event loop stays in the engine's.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_RDONLY = 0x1
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20

MNT_DETACH = 0x2

PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)

_libc.unshare.argtypes = [ctypes.c_int]
_libc.unshare.restype = ctypes.c_int
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.setns.restype = ctypes.c_int
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_void_p,
]
_libc.mount.restype = ctypes.c_int
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.umount2.restype = ctypes.c_int
_libc.syscall.restype = ctypes.c_long
# glibc has no pivot_root wrapper: the raw system call's number, per architecture.
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}.get(
    os.uname().machine, 155
)
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.prctl.restype = ctypes.c_int


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def setns(fd: int, nstype: int) -> None:
    _check(_libc.setns(fd, nstype), "setns")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(
        _libc.mount(
            source.encode() if source is not None else None,
            target.encode(),
            fstype.encode() if fstype is not None else None,
            flags,
            data.encode() if data is not None else None,
        ),
        f"mount {target}",
    )


def umount2(target: str, flags: int) -> None:
    _check(_libc.umount2(target.encode(), flags), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    result = _libc.syscall(
        ctypes.c_long(_SYS_PIVOT_ROOT), ctypes.c_char_p(new_root.encode()), ctypes.c_char_p(put_old.encode())
    )
    _check(int(result), "pivot_root")


def set_parent_death_signal(sig: int) -> None:
    _check(_libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")


def open_ns(path: str) -> int:
    """An fd on a namespace file (``/proc/<pid>/ns/<type>``), close-on-exec."""
    return os.open(path, os.O_RDONLY | os.O_CLOEXEC)


# The new mount API (Linux >= 5.2): a file system made and mounted nowhere (a detached mount,
# held by an fd), then cloned and attached where a container wants it. The numbers are the same
# on every architecture (they were allocated after the syscall tables were unified).
_SYS_OPEN_TREE, _SYS_MOVE_MOUNT, _SYS_FSOPEN, _SYS_FSCONFIG, _SYS_FSMOUNT = 428, 429, 430, 431, 432
_FSCONFIG_SET_STRING = 1
_FSCONFIG_CMD_CREATE = 6
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
_OPEN_TREE_CLONE = 1
_AT_EMPTY_PATH = 0x1000
_MOVE_MOUNT_F_EMPTY_PATH = 0x4
_AT_FDCWD = -100


def _syscall(what: str, number: int, *args: object) -> int:
    result = int(_libc.syscall(ctypes.c_long(number), *args))
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def detached_mount(fstype: str, options: dict[str, str], attrs: int) -> int:
    """``fstype`` made with ``options`` and mounted nowhere: an fd on the detached mount
    (close-on-exec), which :func:`clone_mount` copies and :func:`attach_mount` attaches."""
    fs = _syscall("fsopen", _SYS_FSOPEN, ctypes.c_char_p(fstype.encode()), ctypes.c_uint(1))
    try:
        for key, value in options.items():
            _syscall(
                f"fsconfig {key}={value}", _SYS_FSCONFIG, ctypes.c_int(fs),
                ctypes.c_uint(_FSCONFIG_SET_STRING), ctypes.c_char_p(key.encode()),
                ctypes.c_char_p(value.encode()), ctypes.c_int(0),
            )  # fmt: skip
        _syscall("fsconfig create", _SYS_FSCONFIG, ctypes.c_int(fs), ctypes.c_uint(_FSCONFIG_CMD_CREATE),
                 None, None, ctypes.c_int(0))  # fmt: skip
        return _syscall("fsmount", _SYS_FSMOUNT, ctypes.c_int(fs), ctypes.c_uint(1), ctypes.c_uint(attrs))
    finally:
        os.close(fs)


def clone_mount(fd: int) -> int:
    """A new detached copy of the mount ``fd`` names, sharing its file system (same tmpfs)."""
    flags = _OPEN_TREE_CLONE | _AT_EMPTY_PATH | os.O_CLOEXEC
    return _syscall("open_tree", _SYS_OPEN_TREE, ctypes.c_int(fd), ctypes.c_char_p(b""), ctypes.c_uint(flags))


def attach_mount(fd: int, target: str) -> None:
    """Attach the detached mount ``fd`` at ``target`` in the caller's mount namespace."""
    _syscall(
        f"move_mount {target}", _SYS_MOVE_MOUNT, ctypes.c_int(fd), ctypes.c_char_p(b""),
        ctypes.c_int(_AT_FDCWD), ctypes.c_char_p(target.encode()), ctypes.c_uint(_MOVE_MOUNT_F_EMPTY_PATH),
    )  # fmt: skip
