"""What the image store hands the runtime: an unpacked image and its config, and the pull options."""

from __future__ import annotations

import os
import platform as _platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hitless.images.reference import Reference


@dataclass(frozen=True)
class ImageConfig:
    """The OCI image config's ``config`` part, as the runtime needs it (image-spec config.md).

    ``env`` is ``KEY=VALUE`` strings in the image's order; ``user`` is the image's ``User`` verbatim
    (``uid``, ``uid:gid``, ``name``, ``name:group``); ``exposed_ports`` are ``80/tcp`` keys.
    """

    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    env: list[str] = field(default_factory=list)
    working_dir: str | None = None
    user: str | None = None
    stop_signal: str | None = None
    exposed_ports: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_config_blob(cls, blob: Mapping[str, Any]) -> ImageConfig:
        """Read the ``config`` object of an image config blob (OCI or Docker, same fields)."""
        config = blob.get("config") or {}

        def strings(key: str) -> list[str] | None:
            value = config.get(key)
            return [str(v) for v in value] if isinstance(value, list) else None

        return cls(
            entrypoint=strings("Entrypoint"),
            cmd=strings("Cmd"),
            env=strings("Env") or [],
            working_dir=config.get("WorkingDir") or None,
            user=config.get("User") or None,
            stop_signal=config.get("StopSignal") or None,
            exposed_ports=tuple(sorted((config.get("ExposedPorts") or {}).keys())),
            labels=dict(config.get("Labels") or {}),
        )


@dataclass(frozen=True)
class Image:
    """An image present in the store, unpacked.

    ``id`` is ``sha256:<hex>`` of the config blob (Docker's image ID, the CRI's ``Image.id``);
    ``digest`` the digest the reference resolved to at the registry (the index's for a
    multi-platform image, as containerd records it), so that ``repo_digest`` is the kubelet's
    ``imageID``; None for an image loaded from an archive that carries no registry digest.
    ``rootfs`` is shared read-only by every container of the image (an overlay's lowerdir): never
    write to it.
    """

    reference: str
    id: str
    digest: str | None
    rootfs: Path
    config: ImageConfig
    size: int
    manifest_digest: str = ""  # the platform manifest's digest (what rootfs is keyed by)

    @property
    def repo_digest(self) -> str:
        """``docker.io/library/nginx@sha256:...`` when known, else the image id."""
        if self.digest is None:
            return self.id
        name = self.reference.split("@", 1)[0]
        slash = name.rfind("/")
        colon = name.rfind(":")
        if colon > slash:
            name = name[:colon]
        return f"{name}@{self.digest}"


@dataclass(frozen=True)
class Platform:
    """The platform to pick from a multi-platform index (image-spec image-index.md)."""

    os: str = "linux"
    architecture: str = "amd64"
    variant: str | None = None

    @classmethod
    def host(cls) -> Platform:
        # Go's GOARCH names for uname -m (containerd/platforms' normalizeArch).
        machine = _platform.machine().lower()
        arch = {
            "x86_64": "amd64",
            "amd64": "amd64",
            "aarch64": "arm64",
            "arm64": "arm64",
            "armv7l": "arm",
            "armv6l": "arm",
            "i386": "386",
            "i686": "386",
            "ppc64le": "ppc64le",
            "s390x": "s390x",
            "riscv64": "riscv64",
        }.get(machine, machine)
        variant = {"armv7l": "v7", "armv6l": "v6"}.get(machine)
        return cls(os="linux", architecture=arch, variant=variant)

    def __str__(self) -> str:
        text = f"{self.os}/{self.architecture}"
        return text + (f"/{self.variant}" if self.variant else "")


Source = Literal["registry", "docker", "podman"]


@dataclass(frozen=True)
class PullOptions:
    """Where images come from, as a container runtime is configured.

    ``mirrors`` maps a registry host (``docker.io``, ``ghcr.io``, ``127.0.0.1:5000``) to the
    endpoints that replace it (``http://127.0.0.1:5000``), tried in order; the registry itself is
    not contacted then (air-gapped use). ``insecure_registries`` may be reached over plain HTTP
    (loopback registries always may). ``archives`` (``docker save`` tarballs, OCI archives, OCI
    layout directories) are consulted before any registry, under the names they carry.
    ``source`` ``docker``/``podman`` consults that local store (``docker save``) before the
    registry; ``source_command`` replaces the command (e.g. podman with ``--root``).
    ``auth_files`` replaces the default credential search (``$REGISTRY_AUTH_FILE``,
    ``$XDG_RUNTIME_DIR/containers/auth.json``, ``$DOCKER_CONFIG/config.json``).
    ``timeout`` bounds every connect and every read (a registry that hangs fails the pull).
    """

    mirrors: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    insecure_registries: frozenset[str] = frozenset()
    archives: tuple[Path, ...] = ()
    source: Source = "registry"
    source_command: tuple[str, ...] | None = None
    auth_files: tuple[Path, ...] | None = None
    platform: Platform = field(default_factory=Platform.host)
    timeout: float = 30.0

    @staticmethod
    def parse_mirrors(values: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """``--registry-mirror HOST=URL`` flags (repeatable) into ``mirrors``; ValueError if malformed."""
        mirrors: dict[str, list[str]] = {}
        for value in values:
            host, sep, url = value.partition("=")
            host, url = host.strip(), url.strip().rstrip("/")
            if not sep or not host or not url:
                raise ValueError(
                    f"--registry-mirror {value!r}: expected HOST=URL (docker.io=http://127.0.0.1:5000)"
                )
            if "://" not in url:
                url = "https://" + url
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"--registry-mirror {value!r}: the URL must be http:// or https://")
            if host in ("index.docker.io", "registry-1.docker.io"):
                host = "docker.io"
            mirrors.setdefault(host, []).append(url)
        return {host: tuple(urls) for host, urls in mirrors.items()}


def default_root() -> Path:
    """``$XDG_CACHE_HOME/hitless/images`` (``~/.cache/hitless/images``)."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "hitless" / "images"


def endpoint_host(ref: Reference) -> str:
    """The host serving a reference's registry API (Docker Hub's differs from its name)."""
    return "registry-1.docker.io" if ref.domain == "docker.io" else ref.domain
