"""A container's mount namespace, built in the forked child just before it execs PID 1.

The child (forked by the sandbox's thread, already PID 1 of its new PID namespace) runs
:meth:`Stage.__call__` as ``preexec_fn``: it unshares a mount namespace of its own, applies the
CRI mounts, and for an image builds the root (overlay, ``/proc``, ``/dev``, ``/sys``, the pod's
``/etc`` files) and ``pivot_root``s into it; then it takes the container's user and Popen execs
the command in place. Nothing runs in between: the command stays PID 1, a direct child of the
engine, with its real exit status. Why ``preexec_fn`` rather than a helper program: a Python
helper costs ~22 ms per start and util-linux's ``unshare`` cannot bind-mount; the child here only
makes system calls (ctypes, loaded before the fork) and a few ``os`` calls, and takes no lock
another thread could hold.

Every mount is made inside the container's own namespace, which dies with its last process:
nothing is ever mounted in the engine's namespace, so nothing can be left on the host, even
after a SIGKILL of the engine. A mount point missing on the host (a host-command container's
volume at ``/data``) is not created on the host either: the nearest existing ancestor is
mirrored in a tmpfs (every entry bind-mounted back, symlinks copied) that covers it only inside
the container's namespace, and the missing directories are made in that tmpfs.
"""

from __future__ import annotations

import mmap
import os
import stat
from dataclasses import dataclass, field

from hitless.runtime.cri import Mount
from hitless.runtime.linux import syscalls
from hitless.runtime.linux.rootfs import Ids, secure_join

# statvfs f_flag bits kept on a read-only remount, as the MS_* flags they stand for: in a user
# namespace a remount that drops a locked flag fails with EPERM. (ST_RELATIME is 4096, which as a
# mount flag would be MS_BIND; MS_RELATIME is 1 << 21.)
_ST_TO_MS = {
    0x2: syscalls.MS_NOSUID,
    0x4: syscalls.MS_NODEV,
    0x8: syscalls.MS_NOEXEC,
    0x400: 0x400,  # noatime
    0x800: 0x800,  # nodiratime
    0x1000: 1 << 21,  # relatime
}
_PROPAGATION = {
    "private": syscalls.MS_PRIVATE | syscalls.MS_REC,
    "rslave": syscalls.MS_SLAVE | syscalls.MS_REC,
    "rshared": syscalls.MS_SHARED | syscalls.MS_REC,
}
# runc's default devices (libcontainer/specconv AllowedDevices), bind-mounted from the host so
# that the same code works in a user namespace, where mknod is refused.
_DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
_DEV_LINKS = {
    "fd": "/proc/self/fd",
    "stdin": "/proc/self/fd/0",
    "stdout": "/proc/self/fd/1",
    "stderr": "/proc/self/fd/2",
    "core": "/proc/kcore",
    "ptmx": "pts/ptmx",
}


# containerd's default spec (pkg/oci/spec.go populateDefaultUnixSpec), which runc applies: paths
# of the host's kernel a container is not shown (a file gets /dev/null over it, a directory an
# empty read-only tmpfs), and kernel knobs it may read but not write.
MASKED_PATHS = (
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
    "/sys/devices/virtual/powercap", "/proc/scsi",
)  # fmt: skip
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")


@dataclass(frozen=True)
class ImageRoot:
    """An image container's root: an overlay of the image's flattened tree."""

    lower: str
    upper: str
    work: str
    merged: str
    # Rootless overlay needs "userxattr" (kernel >= 5.11): trusted.* xattrs are root's only.
    rootless: bool = False
    # The group of new ptys (devpts gid=): runc's default mounts give tty, 5
    # (libcontainer/specconv/example.go Example()), which a user namespace must map; with only
    # the user's own id mapped runc's rootless spec drops the option (ToRootless), and so do we.
    pts_gid: int | None = 5


@dataclass(frozen=True)
class Plan:
    """Everything the child does, worked out by the engine before the fork."""

    mounts: tuple[Mount, ...]
    # The container's own directory on the host (created and removed by the runtime): where the
    # staging tmpfs of a mirrored directory is mounted, inside the container's namespace only.
    scratch: str
    image: ImageRoot | None = None
    cwd: str = "/"
    user: Ids | None = None
    # Runtime-made bind mounts after the CRI ones: the pod's /etc/hosts, /etc/hostname,
    # /etc/resolv.conf and the termination-message file.
    files: tuple[Mount, ...] = field(default_factory=tuple)
    # With an image: the pod's /dev/shm (sandbox.pod_shm), of which the child attaches a copy;
    # None: a tmpfs of the container's own.
    shm_fd: int | None = None


class StageError(Exception):
    """The child could not build the container's mounts; the message is containerd's wording."""


class Stage:
    """The ``preexec_fn``: its failure message reaches the parent through shared memory,
    since Popen reports only "Exception occurred in preexec_fn"."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self._error = mmap.mmap(-1, 4096)
        self._staged = 0
        # The tree the mounts go into: the host's root, an image's overlay, or the tmpfs mirror
        # of the host's root that becomes the container's root.
        self._root = "/"
        # Devices of the tmpfs mirrors made here: a directory on one may be written freely.
        self._tmpfs_devs: set[int] = set()
        # The child's copy of the pod's /dev/shm, taken before it leaves the engine's mount
        # namespace (the kernel clones a detached mount only for the namespace it was made in).
        self._shm = -1

    def error(self) -> str:
        raw = self._error[:].split(b"\0", 1)[0]
        return raw.decode("utf-8", "replace")

    def close(self) -> None:
        self._error.close()

    def __call__(self) -> None:
        try:
            self._run()
        except BaseException as exc:
            self._error[:] = (str(exc).encode()[:4095] + b"\0").ljust(4096, b"\0")
            raise

    # --- in the child ---

    def _run(self) -> None:
        plan = self.plan
        # containerd's isInCRIMounts: a volume at /dev/shm (an emptyDir of medium Memory) is the
        # container's /dev/shm instead of the pod's.
        shm_volume = any(os.path.normpath(m.container_path) == "/dev/shm" for m in plan.mounts)
        if plan.image is not None and plan.shm_fd is not None and not shm_volume:
            try:
                self._shm = syscalls.clone_mount(plan.shm_fd)
            except OSError:
                self._shm = -1  # a kernel that refuses: a /dev/shm of the container's own
        syscalls.unshare(syscalls.CLONE_NEWNS)
        # runc's default root propagation, rslave: the engine's mounts still reach the container
        # and nothing the container mounts goes back. Always, even for a Bidirectional
        # (rshared) mount, for which containerd makes the root rshared: that would send the
        # container's mounts (its /proc, its overlay) into the engine's namespace, or, for an
        # engine without one of its own, the machine's. Such a mount is shared within the
        # container only.
        syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_SLAVE)
        # Opened now, before any mount can cover them: the mount sources as the host sees them.
        sources = [self._open_source(m) for m in (*plan.mounts, *plan.files)]
        try:
            if plan.image is not None:
                try:
                    self._image_root(plan.image)
                except OSError as exc:
                    raise StageError(f"error during container init: the image's root: {exc}") from exc
                self._root = plan.image.merged
            for m, fd in zip((*plan.mounts, *plan.files), sources, strict=True):
                self._bind(m, fd)
            if self._root != "/":
                self._pivot(self._root)
            if plan.image is None:
                # What util-linux's unshare --mount-proc did: this PID namespace's own /proc.
                syscalls.mount(
                    "proc", "/proc", "proc", syscalls.MS_NOSUID | syscalls.MS_NODEV | syscalls.MS_NOEXEC
                )
        finally:
            for fd in sources:
                os.close(fd)
        try:
            os.chdir(plan.cwd)
        except OSError as exc:
            raise StageError(
                f'error during container init: chdir to cwd ("{plan.cwd}") set in config.json failed: '
                f"{(exc.strerror or str(exc)).lower()}"
            ) from exc
        if plan.user is not None:
            try:
                os.setgroups(list(plan.user.groups))
            except PermissionError:
                # A user namespace with setgroups denied (an unprivileged engine): runc's
                # rootless mode leaves the groups as they are too.
                if plan.image is None or not plan.image.rootless:
                    raise
            os.setresgid(plan.user.gid, plan.user.gid, plan.user.gid)
            os.setresuid(plan.user.uid, plan.user.uid, plan.user.uid)

    def _open_source(self, m: Mount) -> int:
        try:
            return os.open(m.host_path, os.O_PATH | os.O_CLOEXEC)
        except OSError as exc:
            raise StageError(self._mount_error(m, exc)) from exc

    @staticmethod
    def _mount_error(m: Mount, exc: OSError) -> str:
        reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        where = f'"{m.host_path}" to rootfs at "{m.container_path}"'
        return f"error during container init: error mounting {where}: {reason}"

    def _bind(self, m: Mount, fd: int) -> None:
        try:
            is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
            target = self._target(m.container_path, is_dir)
            syscalls.mount(f"/proc/self/fd/{fd}", target, None, syscalls.MS_BIND | syscalls.MS_REC)
            syscalls.mount(None, target, None, _PROPAGATION.get(m.propagation, _PROPAGATION["private"]))
            if m.readonly:
                remount_readonly(target)
        except OSError as exc:
            raise StageError(self._mount_error(m, exc)) from exc

    def _target(self, path: str, is_dir: bool) -> str:
        """The mount point for ``path``, made if missing: in the image's overlay (its upper dir
        is the container's own), or on the host through a tmpfs mirror of the nearest existing
        ancestor, so that the host itself is never written."""
        target = secure_join(self._root, path)
        if os.path.lexists(target):
            return target
        if self.plan.image is None:
            ancestor = os.path.dirname(target)
            while not os.path.lexists(ancestor):
                ancestor = os.path.dirname(ancestor)
            if not self._ours(ancestor):
                self._mirror(ancestor)
                target = secure_join(self._root, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if is_dir:
            os.mkdir(target)
        else:
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
        return target

    def _ours(self, path: str) -> bool:
        # A directory of a tmpfs this stage made: writing there stays in the container.
        return os.stat(path).st_dev in self._tmpfs_devs

    def _mirror(self, directory: str) -> None:
        """Cover ``directory`` with a tmpfs holding the same entries (bind mounts and copied
        symlinks), inside this mount namespace only."""
        self._staged += 1
        stage = os.path.join(self.plan.scratch, f"mirror{self._staged}")
        os.makedirs(stage, 0o755)
        syscalls.mount("tmpfs", stage, "tmpfs", syscalls.MS_NOSUID | syscalls.MS_NODEV, "mode=755")
        self._tmpfs_devs.add(os.stat(stage).st_dev)
        st = os.stat(directory)
        os.chown(stage, st.st_uid, st.st_gid)
        os.chmod(stage, stat.S_IMODE(st.st_mode))
        for name in os.listdir(directory):
            src, dst = os.path.join(directory, name), os.path.join(stage, name)
            st = os.lstat(src)
            if stat.S_ISLNK(st.st_mode):
                os.symlink(os.readlink(src), dst)
                continue
            if stat.S_ISDIR(st.st_mode):
                os.mkdir(dst)
            else:
                os.close(os.open(dst, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
            syscalls.mount(src, dst, None, syscalls.MS_BIND | syscalls.MS_REC)
        if directory == "/":
            # The root cannot be covered in place: the mirror becomes the root (pivot_root
            # once every mount is in, since the sources must stay in this namespace's tree).
            self._root = stage
        else:
            syscalls.mount(stage, directory, None, syscalls.MS_MOVE)

    # --- an image's root ---

    def _image_root(self, image: ImageRoot) -> None:
        options = f"lowerdir={image.lower},upperdir={image.upper},workdir={image.work}"
        if image.rootless:
            options += ",userxattr"
        syscalls.mount("overlay", image.merged, "overlay", 0, options)
        root = image.merged
        # runc makes a missing working directory (in the container's upper dir).
        _mkdirs(secure_join(root, self.plan.cwd))
        nosuid_nodev_noexec = syscalls.MS_NOSUID | syscalls.MS_NODEV | syscalls.MS_NOEXEC
        proc = _mkdirs(secure_join(root, "/proc"))
        syscalls.mount("proc", proc, "proc", nosuid_nodev_noexec)
        dev = _mkdirs(secure_join(root, "/dev"))
        syscalls.mount("tmpfs", dev, "tmpfs", syscalls.MS_NOSUID, "mode=755,size=65536k")
        for name in _DEVICES:
            node = os.path.join(dev, name)
            os.close(os.open(node, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o666))
            syscalls.mount(f"/dev/{name}", node, None, syscalls.MS_BIND)
        os.mkdir(os.path.join(dev, "pts"))
        pts_gid = "" if image.pts_gid is None else f",gid={image.pts_gid}"
        pts_options = "newinstance,ptmxmode=0666,mode=0620" + pts_gid
        syscalls.mount(
            "devpts", os.path.join(dev, "pts"), "devpts", syscalls.MS_NOSUID | syscalls.MS_NOEXEC, pts_options
        )
        os.mkdir(os.path.join(dev, "shm"))
        attached = False
        if self._shm >= 0:
            try:
                syscalls.attach_mount(self._shm, os.path.join(dev, "shm"))
                attached = True
            except OSError:
                pass  # a kernel that refuses: a /dev/shm of the container's own, as below
            os.close(self._shm)
            self._shm = -1
        if not attached:
            syscalls.mount(
                "shm", os.path.join(dev, "shm"), "tmpfs", nosuid_nodev_noexec, "mode=1777,size=65536k"
            )
        os.mkdir(os.path.join(dev, "mqueue"))
        try:
            syscalls.mount("mqueue", os.path.join(dev, "mqueue"), "mqueue", nosuid_nodev_noexec)
        except OSError:
            os.rmdir(os.path.join(dev, "mqueue"))  # no POSIX message queues in this kernel
        for name, link in _DEV_LINKS.items():
            os.symlink(link, os.path.join(dev, name))
        sys_dir = _mkdirs(secure_join(root, "/sys"))
        try:
            syscalls.mount("sysfs", sys_dir, "sysfs", nosuid_nodev_noexec | syscalls.MS_RDONLY)
        except PermissionError:
            # sysfs needs the user namespace that owns the network namespace: bind the host's
            # read-only instead, as runc's rootless spec does (specconv.ToRootless).
            syscalls.mount("/sys", sys_dir, None, syscalls.MS_BIND | syscalls.MS_REC)
            remount_readonly(sys_dir)
        for path in MASKED_PATHS:
            target = root + path
            if os.path.isdir(target):
                syscalls.mount("tmpfs", target, "tmpfs", syscalls.MS_RDONLY)
            elif os.path.exists(target):
                syscalls.mount("/dev/null", target, None, syscalls.MS_BIND)
        for path in READONLY_PATHS:
            target = root + path
            if os.path.exists(target):
                syscalls.mount(target, target, None, syscalls.MS_BIND | syscalls.MS_REC)
                remount_readonly(target)

    def _pivot(self, new_root: str) -> None:
        """runc's pivot_root(".", "."): the old root ends up under the new one, then is detached
        there, so no path of the host stays reachable from the container."""
        old = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.chdir(new_root)
            syscalls.pivot_root(".", ".")
            os.fchdir(old)
            syscalls.mount(None, ".", None, syscalls.MS_SLAVE | syscalls.MS_REC)
            syscalls.umount2(".", syscalls.MNT_DETACH)
        finally:
            os.close(old)
        os.chdir("/")


def _mkdirs(path: str) -> str:
    os.makedirs(path, exist_ok=True)
    return path


def remount_readonly(target: str) -> None:
    flags = os.statvfs(target).f_flag
    kept = 0
    for st_flag, ms_flag in _ST_TO_MS.items():
        if flags & st_flag:
            kept |= ms_flag
    syscalls.mount(None, target, None, syscalls.MS_BIND | syscalls.MS_REMOUNT | syscalls.MS_RDONLY | kept)
