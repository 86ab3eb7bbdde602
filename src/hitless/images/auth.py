"""Registry credentials: the pod's imagePullSecrets, then the auth files docker and podman use.

Files, in podman/skopeo's order (containers/image pkg/docker/config/config.go): ``$REGISTRY_AUTH_FILE``,
``$XDG_RUNTIME_DIR/containers/auth.json``, ``$DOCKER_CONFIG/config.json`` (``~/.docker/config.json``).
In each, ``credHelpers[host]`` names a helper for that host, ``credsStore`` a helper for every
other host, and ``auths[key]`` holds ``auth`` (base64 ``user:password``), ``username``/``password``
or ``identitytoken``. A helper is ``docker-credential-NAME get`` with the server on stdin,
answering ``{"ServerURL", "Username", "Secret"}``; a ``Username`` of ``<token>`` makes ``Secret``
an identity token (docker/cli cli/config/credentials/native_store.go).

Keys are matched as the kubelet's keyring matches them (pkg/credentialprovider/keyring.go):
scheme and a trailing ``/v1/`` or ``/v2/`` dropped, the most specific of ``host/path...``,
``host`` first. Docker Hub answers to ``docker.io``, ``index.docker.io``,
``registry-1.docker.io`` and the legacy ``https://index.docker.io/v1/``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hitless.images.errors import ImagePullError
from hitless.images.reference import DOCKER_HUB_AUTH_KEY

_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io"}


@dataclass(frozen=True)
class Credential:
    username: str = ""
    password: str = ""
    identity_token: str = ""  # an OAuth2 refresh token for the registry's token server
    source: str = ""  # where it came from, for messages (never the secret itself)


def _normalize_key(key: str) -> str:
    key = key.strip()
    for scheme in ("https://", "http://"):
        key = key.removeprefix(scheme)
    for suffix in ("/v1/", "/v2/", "/v1", "/v2"):
        key = key.removesuffix(suffix)
    key = key.rstrip("/")
    host, sep, rest = key.partition("/")
    if host in _HUB_ALIASES:
        host = "docker.io"
    return host + sep + rest


def _candidates(host: str, path: str) -> list[str]:
    """Keys to look up for ``host/path``, most specific first."""
    host = "docker.io" if host in _HUB_ALIASES else host
    parts = path.split("/") if path else []
    keys = [host + "/" + "/".join(parts[:i]) for i in range(len(parts), 0, -1)]
    return [*keys, host]


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _from_entry(entry: Mapping[str, Any], source: str) -> Credential | None:
    token = str(entry.get("identitytoken") or "")
    user, password = str(entry.get("username") or ""), str(entry.get("password") or "")
    encoded = entry.get("auth")
    if encoded:
        try:
            decoded = base64.b64decode(str(encoded)).decode()
        except (binascii.Error, UnicodeDecodeError) as err:
            raise ImagePullError(f"invalid auth in {source}: {err}", cause="unauthorized") from err
        user, sep, password = decoded.partition(":")
        if not sep:
            raise ImagePullError(f"invalid auth in {source}: not user:password", cause="unauthorized")
    if not (user or password or token):
        return None
    return Credential(username=user, password=password, identity_token=token, source=source)


def lookup_in_auths(auths: Mapping[str, Any], host: str, path: str, source: str) -> Credential | None:
    table = {_normalize_key(k): v for k, v in auths.items() if isinstance(v, Mapping)}
    for key in _candidates(host, path):
        if key in table:
            return _from_entry(table[key], source)
    return None


def pull_secret_credentials(secrets: Sequence[Mapping[str, Any]], host: str, path: str) -> list[Credential]:
    """Every imagePullSecret's credential for this repository, in the pod's order (the kubelet
    tries them all, pkg/kubelet/kuberuntime/kuberuntime_image.go PullImage)."""
    out = []
    for i, secret in enumerate(secrets):
        # .dockerconfigjson wraps the table in "auths"; the legacy .dockercfg is the table itself.
        auths = _mapping(secret.get("auths")) if "auths" in secret else secret
        credential = lookup_in_auths(auths, host, path, f"imagePullSecrets[{i}]")
        if credential is not None:
            out.append(credential)
    return out


def default_auth_files() -> list[Path]:
    files = []
    if os.environ.get("REGISTRY_AUTH_FILE"):
        files.append(Path(os.environ["REGISTRY_AUTH_FILE"]))
    if os.environ.get("XDG_RUNTIME_DIR"):
        files.append(Path(os.environ["XDG_RUNTIME_DIR"]) / "containers" / "auth.json")
    docker_config = os.environ.get("DOCKER_CONFIG")
    files.append(
        Path(docker_config) / "config.json" if docker_config else Path.home() / ".docker" / "config.json"
    )
    return files


async def file_credential(files: Sequence[Path], host: str, path: str, timeout: float) -> Credential | None:
    """The first credential the auth files give for ``host/path`` (podman's order: first file wins)."""
    for file in files:
        try:
            data = json.loads(file.read_text())
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as err:
            raise ImagePullError(f"reading credentials from {file}: {err}", cause="unauthorized") from err
        if not isinstance(data, Mapping):
            continue
        helpers = _mapping(data.get("credHelpers"))
        norm_helpers = {_normalize_key(k): str(v) for k, v in helpers.items()}
        helper = next((norm_helpers[k] for k in _candidates(host, path) if k in norm_helpers), None)
        if helper is None and data.get("credsStore"):
            helper = str(data["credsStore"])
        if helper:
            credential = await run_helper(helper, host, timeout)
            if credential is not None:
                return credential
        auths = _mapping(data.get("auths"))
        credential = lookup_in_auths(auths, host, path, str(file))
        if credential is not None:
            return credential
    return None


async def run_helper(name: str, host: str, timeout: float) -> Credential | None:
    """``docker-credential-NAME get``; None when it has nothing for this server."""
    server = DOCKER_HUB_AUTH_KEY if host in _HUB_ALIASES else host
    program = f"docker-credential-{name}"
    try:
        proc = await asyncio.create_subprocess_exec(
            program,
            "get",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except FileNotFoundError as err:
        raise ImagePullError(
            f"error getting credentials - err: exec: {program!r}: executable file not found in $PATH",
            cause="unauthorized",
        ) from err
    try:
        out, err_out = await asyncio.wait_for(proc.communicate(server.encode()), timeout)
    except TimeoutError as err:
        proc.kill()
        await proc.wait()
        raise ImagePullError(
            f"error getting credentials - {program} timed out", cause="unauthorized"
        ) from err
    if proc.returncode != 0:
        text = (out or err_out).decode(errors="replace").strip()
        # docker-credential-helpers' ErrCredentialsNotFound: not an error, just no credential.
        if "credentials not found" in text.lower():
            return None
        raise ImagePullError(f"error getting credentials - err: exit status {proc.returncode}, out: `{text}`")
    try:
        answer = json.loads(out)
        username, secret = str(answer.get("Username") or ""), str(answer.get("Secret") or "")
    except (ValueError, AttributeError) as err:
        raise ImagePullError(f"error getting credentials - {program} answered {out[:200]!r}") from err
    if username == "<token>":
        return Credential(identity_token=secret, source=program)
    return Credential(username=username, password=secret, source=program)
