"""A hand-made image root: Debian's busybox-static and its applet links, an /etc/passwd with a
few users. The same tree as an unpacked busybox image, without a registry."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

BUSYBOX = shutil.which("busybox") or "/bin/busybox"
APPLETS = (
    "sh", "cat", "echo", "id", "ls", "pwd", "env", "sleep", "test", "touch", "mkdir", "httpd",
    "wget", "head", "grep", "kill", "stat", "true", "false", "readlink", "mount", "hostname",
)  # fmt: skip

PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\nwww:x:1000:1000:web:/www:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"
)
GROUP = "root:x:0:\nwww:x:1000:\nlogs:x:2000:www\nnogroup:x:65534:\n"


def available() -> bool:
    return os.path.isfile(BUSYBOX) and os.access(BUSYBOX, os.X_OK)


def make_rootfs(root: Path) -> Path:
    """``root`` as a flattened image tree; applets are absolute symlinks, as in real images, so
    that anything following them from the host instead of inside the image would go wrong."""
    for d in ("bin", "etc", "tmp", "www", "var"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    for applet in APPLETS:
        (root / "bin" / applet).symlink_to("/bin/busybox")
    # /var/run -> /run, as in Debian images: a mount target through it must stay in the image.
    (root / "run").mkdir(exist_ok=True)
    (root / "var" / "run").symlink_to("/run")
    (root / "etc" / "passwd").write_text(PASSWD)
    (root / "etc" / "group").write_text(GROUP)
    (root / "www" / "index.html").write_text("hello from the image\n")
    # An absolute symlink to a directory the host does not have: a working directory through it.
    (root / "work").symlink_to("/www")
    return root
