"""Flatten an image's layers into one tree, in a child process chrooted into that tree.

Run as ``python -m hitless.images.unpacker TARGET FD...`` with each layer blob open on an
inherited descriptor, in order. The child opens nothing by path after ``chroot(TARGET)``, so
whatever a layer's symlinks say (``link -> /``, ``link -> ../../..``), the kernel resolves
them inside the tree: nothing can be written outside it. Entries whose own names (or hard-link
targets) climb out with ``..`` are refused outright, as a layer that tries to escape.

Semantics (opencontainers/image-spec layer.md, as containerd archive/tar.go and umoci apply
them): layers in order; ``.wh.NAME`` removes NAME from the layers below; ``.wh..wh..opq``
hides everything the layers below put in its directory; neither hides what its own layer adds.
A directory over a directory keeps its contents and takes the new metadata; anything else
replaces what was there. Ownership (we unpack as root), mode after chown (chown clears
setuid), ``SCHILY.xattr.*`` extended attributes and modification times are kept; hard links
link, symlinks stay symlinks (absolute ones too: they resolve in the container's root).
Device nodes are skipped, as a rootless runtime must and as the container gets its /dev from
the runtime anyway. Compression is read from magic bytes: gzip, zstd, or a plain tar.

Stdlib (and the zstd backport) only, imported before the chroot: nothing can be imported after.
Exit 0 when done; otherwise exit 2 with one line on stderr saying why.
"""

from __future__ import annotations

import errno
import gzip
import io
import os
import shutil
import stat
import sys
import tarfile
from typing import IO

try:
    from compression import zstd  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # Python < 3.14
    from backports import zstd  # type: ignore[no-redef,unused-ignore]

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


class LayerError(Exception):
    pass


def clean(name: str, what: str = "entry") -> str:
    """``/a/b`` for a tar name; LayerError if its ``..`` climbs above the root."""
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise LayerError(f"{what} {name!r} points outside the image root")
            parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)


def open_layer(fd: int) -> IO[bytes]:
    raw = io.BufferedReader(io.FileIO(fd, "rb"), buffer_size=1 << 20)
    magic = raw.peek(4)[:4]
    if magic[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if magic == b"\x28\xb5\x2f\xfd":
        return zstd.ZstdFile(raw, mode="rb")  # type: ignore[no-any-return]
    return raw


def remove(path: str) -> None:
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return  # already gone (a whiteout under what is now a file, say)
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


class Applier:
    def __init__(self, really_root: bool) -> None:
        self.really_root = really_root
        self.skipped_devices = 0

    def apply(self, stream: IO[bytes]) -> None:
        created: set[str] = set()
        opaque: list[str] = []
        with tarfile.open(fileobj=stream, mode="r|", errorlevel=2) as tar:
            for member in tar:
                path = clean(member.name)
                parent, _, base = path.rpartition("/")
                parent = parent or "/"
                if base == OPAQUE:
                    opaque.append(parent)
                    continue
                if base.startswith(WHITEOUT):
                    target = f"{parent.rstrip('/')}/{base[len(WHITEOUT) :]}"
                    if target not in created:
                        remove(target)
                    continue
                if path == "/":
                    if member.isdir():
                        self.metadata(path, member)
                    continue
                self.entry(tar, member, path, parent)
                created.add(path)
        for directory in opaque:
            self.hide_lower(directory, created)

    def hide_lower(self, directory: str, created: set[str]) -> None:
        try:
            names = os.listdir(directory)
        except (FileNotFoundError, NotADirectoryError):
            return
        for name in names:
            path = f"{directory.rstrip('/')}/{name}"
            if path not in created:
                remove(path)
            elif stat.S_ISDIR(os.lstat(path).st_mode):
                self.hide_lower(path, created)

    def entry(self, tar: tarfile.TarFile, member: tarfile.TarInfo, path: str, parent: str) -> None:
        # A parent that is a symlink (even a dangling or absolute one) is followed, inside the
        # chroot, and the directories it names are made, as containerd's fs.RootPath does.
        real_parent = os.path.realpath(parent)
        os.makedirs(real_parent, mode=0o755, exist_ok=True)
        path = f"{real_parent.rstrip('/')}/{path.rpartition('/')[2]}"
        try:
            existing = os.lstat(path)
        except FileNotFoundError:
            existing = None
        if member.isdir():
            if existing is not None and not stat.S_ISDIR(existing.st_mode):
                os.unlink(path)
                existing = None
            if existing is None:
                os.mkdir(path, 0o700)
            self.metadata(path, member)
            return
        if member.ischr() or member.isblk():
            self.skipped_devices += 1
            return
        if existing is not None:
            remove(path)
        if member.isreg():
            source = tar.extractfile(member)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "wb") as out:
                if source is not None:
                    shutil.copyfileobj(source, out, 1 << 20)
        elif member.issym():
            os.symlink(member.linkname, path)
        elif member.islnk():
            target = clean(member.linkname, "hard link target")
            try:
                os.link(target, path, follow_symlinks=False)
            except FileNotFoundError as err:
                raise LayerError(f"hard link {member.name!r} to missing {member.linkname!r}") from err
            return  # a hard link shares its target's inode and metadata
        elif member.isfifo():
            os.mkfifo(path, 0o600)
        else:
            raise LayerError(f"unsupported tar entry type {member.type!r} for {member.name!r}")
        self.metadata(path, member)

    def metadata(self, path: str, member: tarfile.TarInfo) -> None:
        try:
            os.lchown(path, member.uid, member.gid)
        except OSError as err:
            # Rootless with only one id mapped: ownership flattens to the user, as umoci --rootless.
            if self.really_root or err.errno not in (errno.EPERM, errno.EINVAL):
                raise
        for key, value in member.pax_headers.items():
            if key.startswith("SCHILY.xattr."):
                try:
                    os.setxattr(
                        path,
                        key[len("SCHILY.xattr.") :],
                        value.encode("utf-8", "surrogateescape"),
                        follow_symlinks=False,
                    )
                except OSError as err:
                    if err.errno not in (errno.ENOTSUP, errno.EPERM, errno.EOPNOTSUPP):
                        raise
        if member.issym():
            os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)
            return
        os.chmod(path, stat.S_IMODE(member.mode))
        os.utime(path, (member.mtime, member.mtime))


def main(argv: list[str]) -> int:
    target, fds = argv[0], [int(a) for a in argv[1:]]
    really_root = os.environ.get("HITLESS_UNPACK_ROOTLESS") != "1"
    os.chroot(target)
    os.chdir("/")
    os.umask(0)
    applier = Applier(really_root)
    for index, fd in enumerate(fds):
        try:
            with open_layer(fd) as stream:
                applier.apply(stream)
        except LayerError as err:
            print(f"layer {index}: {err}", file=sys.stderr)
            return 2
        except (tarfile.TarError, OSError, EOFError, zstd.ZstdError, io.UnsupportedOperation) as err:
            print(f"layer {index}: {type(err).__name__}: {err}", file=sys.stderr)
            return 2
    if applier.skipped_devices:
        print(f"skipped {applier.skipped_devices} device nodes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
