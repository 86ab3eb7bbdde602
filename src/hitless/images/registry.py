"""A client of the OCI distribution API, for pulling (opencontainers/distribution-spec spec.md).

Token auth follows distribution/distribution docs/content/spec/auth/token.md: a 401 carries
``WWW-Authenticate: Bearer realm=...,service=...,scope=...``; the client asks the realm for a
token for ``repository:<path>:pull`` (with Basic credentials, or an identity token as an OAuth2
refresh token, or anonymously) and retries; ``Basic`` challenges get the credential directly.
Every manifest and blob is hashed while it streams and refused unless its digest (and size) is
the one asked for. Blob GETs usually answer a redirect to object storage: httpx follows it and
drops the Authorization header when the redirect leaves the registry's origin (a bearer token
sent to S3 also makes presigned URLs fail). Plain HTTP is used only for loopback registries and
those the user names insecure, as Docker and containerd allow.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from hitless.images.auth import Credential
from hitless.images.errors import ImagePullError, RegistryUnavailable
from hitless.images.layout import INDEX_TYPES, MANIFEST_TYPES, Layout
from hitless.images.reference import go_quote, is_loopback_host

ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
# containerd refuses manifests over 4 MiB (remotes/docker: MaxManifestSize); so do we.
MAX_MANIFEST = 4 << 20
_CHUNK = 1 << 16
_CHALLENGE = re.compile(r'([a-zA-Z_]+)="([^"]*)"')


@dataclass(frozen=True)
class Fetched:
    data: bytes
    media_type: str
    digest: str


def endpoints(domain: str, mirrors: Mapping[str, tuple[str, ...]], insecure: frozenset[str]) -> list[str]:
    """Base URLs serving ``domain``: its mirrors if any (they replace it), else the registry."""
    if domain in mirrors:
        return list(mirrors[domain])
    host = "registry-1.docker.io" if domain == "docker.io" else domain
    scheme = "http" if is_loopback_host(host) or host in insecure or domain in insecure else "https"
    return [f"{scheme}://{host}"]


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), {k.lower(): v for k, v in _CHALLENGE.findall(rest)}


class Repository:
    """One repository at one endpoint, with one credential (or none)."""

    def __init__(
        self, client: httpx.AsyncClient, base: str, path: str, credential: Credential | None, reference: str
    ) -> None:
        self.client = client
        self.base = base.rstrip("/")
        self.path = path
        self.credential = credential
        self.reference = reference
        self.display = go_quote(reference)  # as Go's %q quotes it in containerd's messages
        self._authorization: str | None = None

    # -- requests ------------------------------------------------------------------------------

    async def _send(self, url: str, accept: str | None) -> httpx.Response:
        """GET with authorization, answering one challenge; the response is streaming (close it)."""
        for attempt in range(2):
            headers = {}
            if accept:
                headers["Accept"] = accept
            if self._authorization:
                headers["Authorization"] = self._authorization
            request = self.client.build_request("GET", url, headers=headers)
            try:
                response = await self.client.send(request, stream=True, follow_redirects=True)
            except httpx.TimeoutException as err:
                raise _unavailable(url, f"timeout ({type(err).__name__})", "timeout") from err
            except httpx.TransportError as err:
                raise _unavailable(url, str(err) or type(err).__name__, "unavailable") from err
            if response.status_code != 401 or attempt == 1:
                return response
            challenge = response.headers.get("WWW-Authenticate", "")
            await response.aclose()
            if not challenge:
                break
            self._authorization = await self._authorize(challenge)
        return response

    async def _authorize(self, challenge: str) -> str:
        scheme, params = parse_challenge(challenge)
        cred = self.credential
        if scheme == "basic":
            if cred is None or not (cred.username or cred.password):
                raise self._denied("401 Unauthorized", "no credentials for a Basic challenge")
            return basic_header(cred)
        if scheme != "bearer" or "realm" not in params:
            raise ImagePullError(f"unsupported authorization challenge {challenge!r}", cause="unauthorized")
        query = {"scope": params.get("scope") or f"repository:{self.path}:pull"}
        if params.get("service"):
            query["service"] = params["service"]
        try:
            if cred is not None and cred.identity_token:
                response = await self.client.post(
                    params["realm"],
                    data={
                        **query,
                        "grant_type": "refresh_token",
                        "refresh_token": cred.identity_token,
                        "client_id": "hitless",
                    },
                )
            else:
                auth = httpx.BasicAuth(cred.username, cred.password) if cred is not None else None
                response = await self.client.get(params["realm"], params=query, auth=auth)
        except httpx.TimeoutException as err:
            raise _unavailable(params["realm"], f"timeout ({type(err).__name__})", "timeout") from err
        except httpx.TransportError as err:
            raise _unavailable(params["realm"], str(err) or type(err).__name__, "unavailable") from err
        if response.status_code != 200:
            what = (
                "fetch oauth token" if cred is not None and cred.identity_token else "fetch anonymous token"
            )
            if cred is not None and not cred.identity_token:
                what = "fetch token"
            raise self._denied(
                f"{response.status_code} {response.reason_phrase}",
                f"failed to {what}: unexpected status from GET request to {_strip_query(params['realm'])}",
            )
        try:
            body = response.json()
            token = body.get("token") or body.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not token:
            raise ImagePullError(
                f"the token server {params['realm']} answered no token", cause="unauthorized"
            )
        return f"Bearer {token}"

    def _denied(self, status: str, detail: str) -> ImagePullError:
        # Docker's words for a 401/403 on pull (distribution/registry/client errors; containerd
        # says "failed to authorize"), with the status and where it came from.
        return ImagePullError(
            f"failed to resolve reference {self.display}: pull access denied, repository does not exist or "
            f"may require authorization: {detail}: {status}",
            cause="unauthorized",
        )

    # -- manifests -----------------------------------------------------------------------------

    async def manifest(self, reference: str, expected_digest: str | None = None) -> Fetched:
        """GET a manifest or index by tag or digest, checked against the digest asked for (or the
        registry's Docker-Content-Digest)."""
        url = f"{self.base}/v2/{self.path}/manifests/{reference}"
        response = await self._send(url, ACCEPT)
        try:
            if response.status_code == 404:
                detail = _registry_error_text(await _read_small(response))
                raise ImagePullError(
                    f"failed to resolve reference {self.display}: {self.reference}: not found"
                    + (f" ({detail})" if detail else ""),
                    cause="not found",
                )
            if response.status_code in (401, 403):
                detail = _registry_error_text(await _read_small(response))
                raise self._denied(
                    f"{response.status_code} {response.reason_phrase}",
                    f"server message: {detail}" if detail else "the registry refused the credentials",
                )
            if response.status_code >= 500:
                raise _unavailable(url, f"{response.status_code} {response.reason_phrase}", "unavailable")
            if response.status_code != 200:
                raise ImagePullError(
                    f"failed to resolve reference {self.display}: unexpected status from GET request to "
                    f"{url}: {response.status_code} {response.reason_phrase}",
                )
            data = await _read_small(response)
            media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
            header_digest = response.headers.get("Docker-Content-Digest")
        finally:
            await response.aclose()
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        want = expected_digest or (reference if reference.startswith("sha256:") else header_digest)
        if want and want.startswith("sha256:") and want != digest:
            raise ImagePullError(
                f"manifest {reference} from {self.base}: digest mismatch: got {digest}, expected {want}",
                cause="digest mismatch",
            )
        try:
            body = json.loads(data)
        except ValueError as err:
            raise ImagePullError(f"manifest {reference} from {self.base} is not JSON: {err}") from err
        if not isinstance(body, dict):
            raise ImagePullError(f"manifest {reference} from {self.base} is not a JSON object")
        media_type = body.get("mediaType") or media_type
        if media_type not in INDEX_TYPES + MANIFEST_TYPES:
            if "manifests" in body:
                media_type = INDEX_TYPES[0]
            elif "layers" in body and "config" in body:
                media_type = MANIFEST_TYPES[0]
            else:
                raise ImagePullError(
                    f"unsupported manifest media type {media_type!r} for {self.display}"
                    " (schema 1 manifests are deprecated and not pulled)",
                    cause="unsupported",
                )
        return Fetched(data=data, media_type=media_type, digest=digest)

    # -- blobs ---------------------------------------------------------------------------------

    async def blob(self, layout: Layout, descriptor: Mapping[str, Any]) -> None:
        """Stream a blob into the layout, hashing as it comes; only a whole, checked blob lands."""
        digest = str(descriptor["digest"])
        size = int(descriptor.get("size", -1))
        if layout.has_blob(digest):
            return
        url = f"{self.base}/v2/{self.path}/blobs/{digest}"
        fd, temp = layout.temp_file()
        try:
            with os.fdopen(fd, "wb") as out:
                response = await self._send(url, None)
                try:
                    if response.status_code != 200:
                        detail = _registry_error_text(await _read_small(response))
                        cause = "not found" if response.status_code == 404 else "error"
                        if response.status_code >= 500:
                            raise _unavailable(
                                url, f"{response.status_code} {response.reason_phrase}", "unavailable"
                            )
                        raise ImagePullError(
                            f"failed to fetch blob {digest}: unexpected status from GET request to {url}: "
                            f"{response.status_code} {response.reason_phrase}"
                            + (f" ({detail})" if detail else ""),
                            cause=cause,
                        )
                    hasher = hashlib.sha256()
                    received = 0
                    try:
                        async for chunk in response.aiter_raw(_CHUNK):
                            received += len(chunk)
                            if 0 <= size < received:
                                break
                            hasher.update(chunk)
                            out.write(chunk)
                    except httpx.TimeoutException as err:
                        raise _unavailable(url, f"timeout ({type(err).__name__})", "timeout") from err
                    except httpx.TransportError as err:
                        raise _unavailable(url, str(err) or type(err).__name__, "unavailable") from err
                finally:
                    await response.aclose()
            got = "sha256:" + hasher.hexdigest()
            if received != size and size >= 0:
                raise ImagePullError(
                    f"failed commit on ref {digest}: unexpected size {received}, expected {size}: "
                    "digest mismatch",
                    cause="digest mismatch",
                )
            if got != digest:
                raise ImagePullError(
                    f"failed commit on ref {digest}: unexpected commit digest {got}, expected {digest}: "
                    "failed precondition (digest mismatch)",
                    cause="digest mismatch",
                )
            layout.commit_blob(temp, digest)
        finally:
            temp.unlink(missing_ok=True)


async def _read_small(response: httpx.Response) -> bytes:
    data = bytearray()
    try:
        async for chunk in response.aiter_bytes(_CHUNK):
            data += chunk
            if len(data) > MAX_MANIFEST:
                raise ImagePullError(f"manifest from {response.url} is larger than {MAX_MANIFEST} bytes")
    except httpx.TimeoutException as err:
        raise _unavailable(str(response.url), f"timeout ({type(err).__name__})", "timeout") from err
    except httpx.TransportError as err:
        raise _unavailable(str(response.url), str(err) or type(err).__name__, "unavailable") from err
    return bytes(data)


def _registry_error_text(data: bytes) -> str:
    try:
        errors = json.loads(data).get("errors") or []
        return "; ".join(f"{e.get('code', '')}: {e.get('message', '')}".strip(": ") for e in errors)
    except (ValueError, AttributeError):
        return ""


def _strip_query(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _unavailable(url: str, detail: str, cause: str) -> RegistryUnavailable:
    err = RegistryUnavailable(f"failed to do request: GET {_strip_query(url)}: {detail}")
    err.cause = cause
    return err


def new_client(timeout: float, trust_env: bool) -> httpx.AsyncClient:
    # One timeout for connect, each read, each write and the pool: a registry that stops
    # answering mid-blob fails the pull after `timeout` seconds rather than hanging it.
    # trust_env (proxy variables, SSL_CERT_FILE) only for registries off this machine: a loopback
    # registry must not be sent through an HTTP proxy.
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout), headers={"User-Agent": "hitless"}, trust_env=trust_env
    )


def basic_header(cred: Credential) -> str:
    return "Basic " + base64.b64encode(f"{cred.username}:{cred.password}".encode()).decode()


def host_of(base: str) -> str:
    return urlsplit(base).netloc


__all__ = ["Fetched", "Repository", "endpoints", "host_of", "new_client", "parse_challenge"]
