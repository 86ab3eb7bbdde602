"""Test helpers for images: a loopback registry (Debian's docker-registry), a token server, and
image builders (umoci for real images, a few lines of tarfile for hand-made layers).

Everything listens on 127.0.0.0/8 and lives in a temporary directory; every process started
here is stopped by its PID.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import io
import json
import shutil
import socket
import subprocess
import tarfile
import threading
import time
import urllib.error
import urllib.request
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

TOOLS = ("docker-registry", "skopeo", "umoci")
BUSYBOX = Path("/bin/busybox")


def missing_tools() -> list[str]:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if not BUSYBOX.exists():
        missing.append("busybox-static (/bin/busybox)")
    return missing


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.02)


def run(*argv: str | Path) -> str:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(map(str, argv))}: exit {done.returncode}: {done.stderr or done.stdout}"
        )
    return done.stdout


# -- the registry -------------------------------------------------------------------------------


@dataclass
class Registry:
    """docker-registry serving ``host`` over plain HTTP, storage under ``root``."""

    root: Path
    auth: dict[str, Any] | None = None
    host: str = ""
    proc: subprocess.Popen[bytes] | None = None
    creds: tuple[str, str] | None = None  # for skopeo pushes

    def start(self) -> Registry:
        self.root.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.host = f"127.0.0.1:{port}"
        config: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "error", "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.root / "data")},
                "delete": {"enabled": True},
            },
            "http": {"addr": self.host},
        }
        if self.auth:
            config["auth"] = self.auth
        (self.root / "config.yml").write_text(json.dumps(config))  # JSON is YAML
        log = open(self.root / "registry.log", "wb")  # noqa: SIM115 - the child keeps it
        self.proc = subprocess.Popen(
            ["docker-registry", "serve", str(self.root / "config.yml")], stdout=log, stderr=log
        )
        log.close()

        def answers() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError((self.root / "registry.log").read_text())
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1)
                return True
            except urllib.error.HTTPError:
                return True  # 401: up, and asking for credentials
            except OSError:
                return False

        wait_for(answers, 15, f"docker-registry on {self.host}")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def push(self, source: str, repo: str, *extra: str) -> str:
        """``skopeo copy SOURCE docker://HOST/REPO``; returns the reference pushed."""
        dest = f"{self.host}/{repo}"
        creds = ["--dest-creds", f"{self.creds[0]}:{self.creds[1]}"] if self.creds else []
        run("skopeo", "copy", "-q", "--dest-tls-verify=false", *creds, *extra, source, f"docker://{dest}")
        return dest

    def blob_data(self, digest: str) -> Path:
        hex_ = digest.split(":", 1)[1]
        return self.root / "data/docker/registry/v2/blobs/sha256" / hex_[:2] / hex_ / "data"


def htpasswd_line(user: str, password: str) -> str:
    # distribution's htpasswd accepts bcrypt only; glibc's crypt(3) (libxcrypt) makes it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt

        # The lowest cost bcrypt allows (2^4 rounds): the registry checks it on every request.
        return f"{user}:{crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))}"


# -- a token server (distribution docs/content/spec/auth/token.md, RS256 JWTs with x5c) --------


@dataclass
class TokenServer:
    root: Path
    users: dict[str, str]
    service: str = "hitless-test"
    issuer: str = "hitless-test-issuer"
    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> TokenServer:
        self.root.mkdir(parents=True, exist_ok=True)
        key, cert = self.root / "key.pem", self.root / "cert.pem"
        run(
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=hitless-test-token", "-keyout", key, "-out", cert,
        )  # fmt: skip
        der = subprocess.run(
            ["openssl", "x509", "-in", str(cert), "-outform", "DER"], capture_output=True, check=True
        ).stdout
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                from urllib.parse import parse_qs, urlsplit

                query = parse_qs(urlsplit(self.path).query)
                user = None
                header = self.headers.get("Authorization", "")
                if header.startswith("Basic "):
                    name, _, password = base64.b64decode(header[6:]).decode().partition(":")
                    if server.users.get(name) != password:
                        self.send_response(401)
                        self.end_headers()
                        return
                    user = name
                server.requests.append({"user": user, "query": query})
                access = []
                for scope in query.get("scope", []):
                    kind, _, rest = scope.partition(":")
                    name, _, actions = rest.rpartition(":")
                    if user is not None:  # anonymous users get a token with no access
                        access.append({"type": kind, "name": name, "actions": actions.split(",")})
                now = int(time.time())
                claims = {
                    "iss": server.issuer, "sub": user or "", "aud": server.service, "exp": now + 300,
                    "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex, "access": access,
                }  # fmt: skip
                head = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
                signing_input = f"{_b64url(json.dumps(head).encode())}.{_b64url(json.dumps(claims).encode())}"
                signature = subprocess.run(
                    ["openssl", "dgst", "-sha256", "-sign", str(key)],
                    input=signing_input.encode(), capture_output=True, check=True,
                ).stdout  # fmt: skip
                body = json.dumps(
                    {"token": f"{signing_input}.{_b64url(signature)}", "expires_in": 300}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/token"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def registry_auth(self) -> dict[str, Any]:
        return {
            "token": {
                "realm": self.url,
                "service": self.service,
                "issuer": self.issuer,
                "rootcertbundle": str(self.root / "cert.pem"),
            }
        }

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


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


@contextlib.contextmanager
def http_server(handler: type[BaseHTTPRequestHandler], host: str = "127.0.0.1") -> Iterator[str]:
    server = ThreadingHTTPServer((host, 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
