"""Registries that want credentials: htpasswd (Basic) and token auth, credentials from auth
files, credential helpers and imagePullSecrets; redirects that must not carry the token; hangs."""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from hitless.images import ImagePullError, ImageStore, PullOptions, RegistryUnavailable
from hitless.images.auth import file_credential, pull_secret_credentials
from tests.images.conftest import PASSWORD, USER, Built
from tests.images.oci import Registry, TokenServer, http_server


def _auth_file(path: Path, host: str, user: str = USER, password: str = PASSWORD) -> Path:
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    path.write_text(json.dumps({"auths": {f"http://{host}/v2/": {"auth": encoded}}}))
    return path


def _store(tmp_path: Path, *auth_files: Path) -> ImageStore:
    return ImageStore(tmp_path / "cache", PullOptions(auth_files=tuple(auth_files)))


@pytest.fixture(scope="module")
def pushed(built: Built, basic_registry: Registry, token_registry: Registry) -> tuple[str, str]:
    basic = basic_registry.push(f"oci:{built.layout}:busybox", "team/app:1")
    token = token_registry.push(f"oci:{built.layout}:busybox", "team/app:1")
    return basic, token


async def test_basic_auth(tmp_path: Path, pushed: tuple[str, str], basic_registry: Registry) -> None:
    basic, _ = pushed
    with pytest.raises(ImagePullError) as err:
        await _store(tmp_path).pull(basic)
    assert err.value.cause == "unauthorized"
    assert "pull access denied" in str(err.value)
    wrong = _auth_file(tmp_path / "wrong.json", basic_registry.host, password="nope")
    with pytest.raises(ImagePullError) as err:
        await _store(tmp_path, wrong).pull(basic)
    assert err.value.cause == "unauthorized" and "401 Unauthorized" in str(err.value)
    good = _auth_file(tmp_path / "good.json", basic_registry.host)
    image = await _store(tmp_path, good).pull(basic)
    assert (image.rootfs / "bin/busybox").exists()


async def test_token_auth(
    tmp_path: Path, pushed: tuple[str, str], token_registry: Registry, token_server: TokenServer
) -> None:
    _, token = pushed
    with pytest.raises(ImagePullError) as err:
        await _store(tmp_path).pull(token)  # anonymous: a token with no access
    assert err.value.cause == "unauthorized"
    with pytest.raises(ImagePullError) as err:
        await _store(
            tmp_path, _auth_file(tmp_path / "wrong.json", token_registry.host, password="nope")
        ).pull(token)
    assert err.value.cause == "unauthorized" and "failed to fetch token" in str(err.value)
    token_server.requests.clear()
    image = await _store(tmp_path, _auth_file(tmp_path / "good.json", token_registry.host)).pull(token)
    assert (image.rootfs / "bin/busybox").exists()
    # One token, scoped to pulling this repository, for the manifest and every blob.
    assert [r["query"]["scope"] for r in token_server.requests] == [["repository:team/app:pull"]]
    assert token_server.requests[0]["user"] == USER


async def test_identity_token_from_a_credential_helper(
    tmp_path: Path, pushed: tuple[str, str], token_registry: Registry, token_server: TokenServer
) -> None:
    """A helper answering Username ``<token>`` gives an identity token: an OAuth2 refresh token
    POSTed to the realm (docker/cli native_store.go), never sent as a password."""
    _, token = pushed
    token_server.refresh_tokens["refresh-123"] = USER
    bindir = tmp_path / "bin"
    bindir.mkdir()
    helper = bindir / "docker-credential-idtoken"
    helper.write_text('#!/bin/sh\ncat >/dev/null\necho \'{"Username":"<token>","Secret":"refresh-123"}\'\n')
    helper.chmod(0o755)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"credHelpers": {token_registry.host: "idtoken"}}))
    old_path = os.environ["PATH"]
    os.environ["PATH"] = f"{bindir}:{old_path}"
    token_server.requests.clear()
    try:
        image = await _store(tmp_path, config).pull(token)
    finally:
        os.environ["PATH"] = old_path
    assert (image.rootfs / "bin/busybox").exists()
    assert token_server.requests[0]["user"] == USER and token_server.requests[0]["query"]["grant"] == [
        "refresh_token"
    ]


async def test_pull_secrets_win_and_are_tried_in_order(
    tmp_path: Path, pushed: tuple[str, str], token_registry: Registry
) -> None:
    _, token = pushed
    bad = base64.b64encode(f"{USER}:nope".encode()).decode()
    good = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    secrets = [
        {"auths": {token_registry.host: {"auth": bad}}},  # .dockerconfigjson, wrong password
        {token_registry.host: {"username": USER, "password": PASSWORD, "auth": good}},  # legacy .dockercfg
    ]
    store = _store(tmp_path, _auth_file(tmp_path / "wrong.json", token_registry.host, password="nope"))
    image = await store.pull(token, auth=secrets)
    assert (image.rootfs / "bin/busybox").exists()


async def test_credential_helpers(tmp_path: Path, pushed: tuple[str, str], basic_registry: Registry) -> None:
    basic, _ = pushed
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "helper.log"
    helper = bindir / "docker-credential-fake"
    helper.write_text(
        "#!/bin/sh\n"
        f'read server; echo "$1 $server" >> {log}\n'
        f'printf \'{{"ServerURL":"%s","Username":"{USER}","Secret":"{PASSWORD}"}}\' "$server"\n'
    )
    helper.chmod(0o755)
    nothing = bindir / "docker-credential-none"
    nothing.write_text("#!/bin/sh\necho 'credentials not found in native keychain'; exit 1\n")
    nothing.chmod(0o755)
    old_path = os.environ["PATH"]
    os.environ["PATH"] = f"{bindir}:{old_path}"
    try:
        config = tmp_path / "config.json"
        config.write_text(json.dumps({"credHelpers": {basic_registry.host: "fake"}, "credsStore": "none"}))
        image = await _store(tmp_path, config).pull(basic)
        assert (image.rootfs / "bin/busybox").exists()
        assert log.read_text().split() == ["get", basic_registry.host]
        # credsStore for every other host: "not found" means anonymous, not an error.
        assert await file_credential([config], "other.example:5000", "x", 5) is None
        store_only = tmp_path / "store.json"
        store_only.write_text(json.dumps({"credsStore": "fake"}))
        cred = await file_credential([store_only], "docker.io", "library/nginx", 5)
        assert cred is not None and cred.username == USER
        assert log.read_text().splitlines()[-1] == "get https://index.docker.io/v1/"
    finally:
        os.environ["PATH"] = old_path


async def test_auth_file_order_and_keys(tmp_path: Path) -> None:
    first = tmp_path / "auth.json"
    first.write_text(
        json.dumps({"auths": {"https://index.docker.io/v1/": {"auth": base64.b64encode(b"hub:1").decode()}}})
    )
    second = tmp_path / "config.json"
    second.write_text(
        json.dumps(
            {
                "auths": {
                    "docker.io": {"auth": base64.b64encode(b"later:2").decode()},
                    "ghcr.io/team": {"username": "team", "password": "3"},
                    "ghcr.io": {"username": "any", "password": "4"},
                }
            }
        )
    )
    hub = await file_credential([first, second], "docker.io", "library/nginx", 5)
    assert hub is not None and (hub.username, hub.password) == ("hub", "1")
    team = await file_credential([first, second], "ghcr.io", "team/api", 5)
    assert team is not None and team.username == "team"
    other = await file_credential([first, second], "ghcr.io", "other/api", 5)
    assert other is not None and other.username == "any"
    assert await file_credential([tmp_path / "missing.json"], "ghcr.io", "x", 5) is None
    hub_secret = {"auths": {"registry-1.docker.io": {"auth": base64.b64encode(b"u:p").decode()}}}
    assert pull_secret_credentials([hub_secret], "docker.io", "library/x")[0].password == "p"


class _Recorder:
    registry_auth: list[str | None] = []
    storage_auth: list[str | None] = []
    storage: str = ""
    blob: bytes = b""
    manifest: bytes = b""


async def test_redirect_to_blob_storage_drops_the_authorization(tmp_path: Path) -> None:
    """Blob GETs answer 307 to another host (object storage): the Basic credential of the
    registry must not follow."""
    from tests.images.oci import layer_tar, write_oci_layout

    layout = tmp_path / "layout"
    digest = write_oci_layout(layout, "x", [layer_tar([])])
    rec = _Recorder()
    rec.registry_auth, rec.storage_auth = [], []
    rec.manifest = (layout / "blobs/sha256" / digest.split(":")[1]).read_bytes()
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    class Storage(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            rec.storage_auth.append(self.headers.get("Authorization"))
            data = (layout / "blobs/sha256" / self.path.rsplit("/", 1)[1]).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    class Reg(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            auth = self.headers.get("Authorization")
            rec.registry_auth.append(auth)
            if auth != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="test"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if "/manifests/" in self.path:
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
                self.send_header("Content-Length", str(len(rec.manifest)))
                self.end_headers()
                self.wfile.write(rec.manifest)
                return
            self.send_response(307)
            self.send_header("Location", f"http://{rec.storage}/bucket/{self.path.rsplit(':', 1)[1]}")
            self.send_header("Content-Length", "0")
            self.end_headers()

    with http_server(Storage, "127.0.0.2") as storage, http_server(Reg) as reg:
        rec.storage = storage
        auth = _auth_file(tmp_path / "auth.json", reg)
        image = await _store(tmp_path, auth).pull(f"{reg}/team/app:1")
    assert image.manifest_digest == digest
    assert rec.storage_auth and all(a is None for a in rec.storage_auth)
    assert expected in rec.registry_auth


async def test_a_registry_that_hangs_times_out(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # accepts connections (the kernel does) and never answers
    host = f"127.0.0.1:{listener.getsockname()[1]}"
    try:
        store = ImageStore(tmp_path / "cache", PullOptions(timeout=0.5))
        start = time.monotonic()
        with pytest.raises(RegistryUnavailable) as err:
            await store.pull(f"{host}/team/app:1")
        assert time.monotonic() - start < 5
        assert err.value.cause == "timeout"
        assert str(err.value).startswith("RegistryUnavailable: failed to do request: GET http://")
        assert list(store.layout.tmp.iterdir()) == []
    finally:
        listener.close()


async def test_a_blob_that_stalls_times_out_and_leaves_nothing(tmp_path: Path) -> None:
    from tests.images.oci import layer_tar, write_oci_layout

    layout = tmp_path / "layout"
    digest = write_oci_layout(layout, "x", [layer_tar([])])
    manifest = (layout / "blobs/sha256" / digest.split(":")[1]).read_bytes()
    release = threading.Event()

    class Reg(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if "/manifests/" in self.path:
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
                self.send_header("Content-Length", str(len(manifest)))
                self.end_headers()
                self.wfile.write(manifest)
                return
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"\0" * 1000)
            self.wfile.flush()
            release.wait(10)

    with http_server(Reg) as reg:
        store = ImageStore(tmp_path / "cache", PullOptions(timeout=0.5))
        try:
            with pytest.raises(RegistryUnavailable) as err:
                await store.pull(f"{reg}/team/app:1")
        finally:
            release.set()
    assert err.value.cause == "timeout"
    assert list(store.layout.tmp.iterdir()) == []
    assert store.list_images() == []
