"""Image builders for the tests and the benchmark: umoci for real images (busybox-static, Debian's
nginx with its libraries), a few lines of tarfile for hand-made layers and layouts, and the tree
an unpack must produce."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TOOLS = ("docker-registry", "skopeo", "umoci")
BUSYBOX = Path("/bin/busybox")


def missing_tools() -> list[str]:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if not BUSYBOX.exists():
        missing.append("busybox-static (/bin/busybox)")
    return missing


def run(*argv: str | Path) -> str:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(map(str, argv))}: exit {done.returncode}: {done.stderr or done.stdout}"
        )
    return done.stdout


# -- image builders -----------------------------------------------------------------------------


def umoci_busybox(
    layout: Path, tag: str, applets: tuple[str, ...] = ("sh", "ls", "cat", "httpd", "sleep")
) -> Path:
    """A busybox image built with umoci: /bin/busybox and applet links, httpd as entrypoint."""
    if not (layout / "oci-layout").exists():
        run("umoci", "init", "--layout", layout)
    run("umoci", "new", "--image", f"{layout}:{tag}")
    bundle = layout.parent / f"bundle-{tag}"
    run("umoci", "unpack", "--image", f"{layout}:{tag}", bundle)
    rootfs = bundle / "rootfs"
    (rootfs / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, rootfs / "bin" / "busybox")
    for applet in applets:
        (rootfs / "bin" / applet).symlink_to("busybox")
    (rootfs / "www").mkdir()
    (rootfs / "www" / "index.html").write_text("hello from the image\n")
    (rootfs / "etc").mkdir()
    (rootfs / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n")
    run("umoci", "repack", "--image", f"{layout}:{tag}", bundle)
    run(
        "umoci", "config", "--image", f"{layout}:{tag}",
        "--config.entrypoint", "/bin/httpd",
        "--config.cmd", "-f", "--config.cmd", "-p", "--config.cmd", "8080",
        "--config.workingdir", "/www", "--config.env", "PATH=/bin", "--config.user", "65534",
        "--config.stopsignal", "SIGTERM", "--config.exposedports", "8080/tcp",
        "--config.label", "org.example.test=busybox",
    )  # fmt: skip
    shutil.rmtree(bundle)
    return bundle


@dataclass
class Entry:
    """One entry of a hand-made layer."""

    name: str
    kind: str = "file"  # file, dir, symlink, hardlink, char
    data: bytes = b""
    target: str = ""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    xattrs: dict[str, str] = field(default_factory=dict)


def layer_tar(entries: list[Entry]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            info = tarfile.TarInfo(e.name)
            info.mode, info.uid, info.gid, info.mtime = e.mode, e.uid, e.gid, 1_700_000_000
            info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in e.xattrs.items()}
            if e.kind == "dir":
                info.type = tarfile.DIRTYPE
            elif e.kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, e.target
            elif e.kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, e.target
            elif e.kind == "char":
                info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
            else:
                info.size = len(e.data)
            tar.addfile(info, io.BytesIO(e.data) if e.kind == "file" else None)
    return buf.getvalue()


def write_oci_layout(
    layout: Path,
    tag: str,
    layers: list[bytes],
    config: dict[str, Any] | None = None,
    compress: bool = True,
    architecture: str = "amd64",
) -> str:
    """A hand-made image in an OCI layout directory; returns its manifest digest."""
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')

    def put(data: bytes) -> dict[str, Any]:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    layer_descs, diff_ids = [], []
    for raw in layers:
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
        data = gzip.compress(raw, mtime=0) if compress else raw
        media = "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if compress else "")
        layer_descs.append({"mediaType": media, **put(data)})
    config_blob = {
        "architecture": architecture,
        "os": "linux",
        "config": config or {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    config_desc = {
        "mediaType": "application/vnd.oci.image.config.v1+json",
        **put(json.dumps(config_blob).encode()),
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config_desc,
        "layers": layer_descs,
    }
    manifest_desc = {"mediaType": manifest["mediaType"], **put(json.dumps(manifest).encode())}
    index_path = layout / "index.json"
    index = (
        json.loads(index_path.read_text()) if index_path.exists() else {"schemaVersion": 2, "manifests": []}
    )
    index["manifests"] = [
        m
        for m in index["manifests"]
        if (m.get("annotations") or {}).get("org.opencontainers.image.ref.name") != tag
    ]
    index["manifests"].append({**manifest_desc, "annotations": {"org.opencontainers.image.ref.name": tag}})
    index_path.write_text(json.dumps(index))
    return str(manifest_desc["digest"])


def add_index(layout: Path, tag: str, platforms: dict[str, str]) -> str:
    """Tag a multi-platform index over manifests already in ``layout`` (``{"amd64": tag}``)."""
    index = json.loads((layout / "index.json").read_text())
    by_tag = {
        (m.get("annotations") or {}).get("org.opencontainers.image.ref.name"): m for m in index["manifests"]
    }
    entries = []
    for arch, source_tag in platforms.items():
        desc = dict(by_tag[source_tag])
        desc.pop("annotations", None)
        desc["platform"] = {"os": "linux", "architecture": arch}
        entries.append(desc)
    body = json.dumps(
        {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}
    ).encode()
    digest = hashlib.sha256(body).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(body)
    index["manifests"].append(
        {
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": f"sha256:{digest}",
            "size": len(body),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }
    )
    (layout / "index.json").write_text(json.dumps(index))
    return f"sha256:{digest}"


def tree(root: Path) -> dict[str, tuple[Any, ...]]:
    """Every path under ``root`` with what an unpack must get right: type, mode, owner, link
    target, content hash, and which paths share an inode (hard links)."""
    out: dict[str, tuple[Any, ...]] = {}
    inodes: dict[int, str] = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        rel = "/" + str(path.relative_to(root))
        kind = (st.st_mode >> 12) & 0o17
        link = str(path.readlink()) if path.is_symlink() else None
        digest = None
        if path.is_file() and not path.is_symlink():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        hardlink = None
        if st.st_nlink > 1 and not path.is_dir():
            hardlink = inodes.setdefault(st.st_ino, rel)
        mtime = None if path.is_dir() else int(st.st_mtime)
        out[rel] = (kind, oct(st.st_mode & 0o7777), st.st_uid, st.st_gid, link, digest, hardlink, mtime)
    return out


# -- an nginx image from Debian's nginx and its libraries ---------------------------------------

NGINX_CONF = """\
user www-data;
worker_processes 1;
pid /run/nginx.pid;
error_log /dev/stderr;
events { worker_connections 256; }
http {
    include mime.types;
    access_log off;
    server {
        listen 80;
        location / { root /usr/share/nginx/html; }
        location = /healthz { return 200 "ok\\n"; }
    }
}
"""


def find_nginx(workdir: Path) -> Path | None:
    """The host's nginx binary; else Debian's, extracted (never installed, so no service starts)
    from ``apt-get download nginx`` into ``workdir``; None if neither is possible."""
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and Path(candidate).exists():
            return Path(candidate)
    extracted = workdir / "nginx-deb" / "root" / "usr/sbin/nginx"
    if extracted.exists():
        return extracted
    if shutil.which("apt-get") is None:
        return None
    debs = workdir / "nginx-deb"
    debs.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["apt-get", "download", "nginx", "nginx-common"], cwd=debs, capture_output=True, check=False
    )
    if done.returncode != 0:
        return None
    for deb in sorted(debs.glob("*.deb")):
        run("dpkg-deb", "-x", deb, debs / "root")
    return extracted if extracted.exists() else None


def _ldd(binary: Path) -> list[Path]:
    out = []
    for line in run("ldd", binary).splitlines():
        parts = line.split()
        path = parts[2] if "=>" in parts and len(parts) > 2 else parts[0]
        if path.startswith("/"):
            out.append(Path(path))
    return out


def build_nginx_image(layout: Path, tag: str, nginx: Path) -> None:
    """An nginx image in ``layout:tag``: the binary, every library ``ldd`` lists, mime.types, a
    small nginx.conf (port 80, ``/healthz``), ``www-data`` in /etc/passwd; CMD ``nginx -g
    'daemon off;'``, STOPSIGNAL SIGQUIT, as the official image."""
    if not (layout / "oci-layout").exists():
        run("umoci", "init", "--layout", layout)
    run("umoci", "new", "--image", f"{layout}:{tag}")
    bundle = layout.parent / f"bundle-{tag}"
    run("umoci", "unpack", "--image", f"{layout}:{tag}", bundle)
    rootfs = bundle / "rootfs"
    (rootfs / "usr/sbin").mkdir(parents=True)
    shutil.copy2(nginx, rootfs / "usr/sbin/nginx")
    for lib in _ldd(nginx):
        dest = rootfs / str(lib).lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(lib.resolve(), dest)
    (rootfs / "etc/nginx").mkdir(parents=True)
    (rootfs / "etc/nginx/nginx.conf").write_text(NGINX_CONF)
    mime = next(
        (p for p in (nginx.parents[2] / "etc/nginx/mime.types", Path("/etc/nginx/mime.types")) if p.exists()),
        None,
    )
    (rootfs / "etc/nginx/mime.types").write_text(
        mime.read_text() if mime else "types { text/html html; text/plain txt; }\n"
    )
    (rootfs / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    )
    (rootfs / "etc/group").write_text("root:x:0:\nwww-data:x:33:\nnogroup:x:65534:\n")
    for d in ("var/lib/nginx", "var/log/nginx", "run", "tmp", "usr/share/nginx/html"):
        (rootfs / d).mkdir(parents=True, exist_ok=True)
    (rootfs / "tmp").chmod(0o1777)
    (rootfs / "usr/share/nginx/html/index.html").write_text("<h1>hello from nginx in an image</h1>\n")
    run("umoci", "repack", "--image", f"{layout}:{tag}", bundle)
    run(
        "umoci", "config", "--image", f"{layout}:{tag}",
        "--config.cmd", "nginx", "--config.cmd", "-g", "--config.cmd", "daemon off;",
        "--config.env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "--config.stopsignal", "SIGQUIT", "--config.exposedports", "80/tcp",
    )  # fmt: skip
    shutil.rmtree(bundle)
