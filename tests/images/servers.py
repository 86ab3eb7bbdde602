"""Loopback servers for the image tests: Debian's docker-registry (plain, htpasswd or token
auth), a token server issuing RS256 JWTs, and a bare HTTP server for hand-written registries.

Everything listens on 127.0.0.0/8 and lives in a temporary directory; every process started
here is stopped by its PID.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import subprocess
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

from tests.images.builders import run


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
    refresh_tokens: dict[str, str] = field(default_factory=dict)  # identity token -> user
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

            def do_POST(self) -> None:
                # OAuth2 with an identity token (docker/distribution token auth, "oauth.md").
                from urllib.parse import parse_qs

                length = int(self.headers.get("Content-Length", "0"))
                form = parse_qs(self.rfile.read(length).decode())
                user = server.refresh_tokens.get((form.get("refresh_token") or [""])[0])
                if form.get("grant_type") != ["refresh_token"] or user is None:
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.answer(user, {"scope": form.get("scope", []), "grant": ["refresh_token"]})

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
                self.answer(user, query)

            def answer(self, user: str | None, query: dict[str, list[str]]) -> None:
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
                # OAuth2 answers say access_token, the GET flow token: clients must read both.
                field_name = "access_token" if "grant" in query else "token"
                body = json.dumps(
                    {field_name: f"{signing_input}.{_b64url(signature)}", "expires_in": 300}
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
