"""Image references, normalized as the kubelet and containerd normalize them.

A port of distribution/reference (regexp.go, reference.go, normalize.go: ParseNormalizedNamed,
splitDockerDomain) and of the kubelet's use of it (kubernetes/kubernetes
pkg/util/parsers/parsers.go ParseImageName): the first path component is a registry host iff it
contains ``.`` or ``:`` or is ``localhost``; otherwise the registry is ``docker.io`` and a
one-component name gets ``library/``; no tag and no digest means ``:latest``. Kubernetes has no
short-name search (unlike podman's registries.conf).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hitless.images.errors import InvalidImageName

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
# Docker Hub's API endpoint and its credential key differ from its name (docker/cli
# registry.IndexServer; containerd's docker resolver maps docker.io to registry-1.docker.io).
DOCKER_HUB_ENDPOINT = "registry-1.docker.io"
DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"
NAME_TOTAL_LENGTH_MAX = 255

# distribution/reference regexp.go, expression by expression.
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN = rf"(?:{_DOMAIN_NAME}|{_IPV6})(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_REFERENCE = re.compile(rf"^({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?$", re.ASCII)
_IDENTIFIER = re.compile(r"^[a-f0-9]{64}$")
_DIGEST_HEX = {"sha256": 64, "sha384": 96, "sha512": 128}


@dataclass(frozen=True)
class Reference:
    """A normalized reference: ``domain/path[:tag][@digest]``."""

    domain: str  # docker.io, ghcr.io, 127.0.0.1:5000
    path: str  # library/nginx
    tag: str | None  # latest when neither tag nor digest was given
    digest: str | None  # sha256:...

    @property
    def name(self) -> str:
        """The repository: ``docker.io/library/nginx``."""
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        text = self.name
        if self.tag is not None:
            text += ":" + self.tag
        if self.digest is not None:
            text += "@" + self.digest
        return text

    @property
    def object(self) -> str:
        """What to ask the registry's manifests endpoint for: the digest if pinned, else the tag."""
        return self.digest or self.tag or "latest"

    def with_digest(self, digest: str) -> str:
        """``repo@digest``: the kubelet's ``imageID`` / containerd's repo digest."""
        return f"{self.name}@{digest}"

    @property
    def familiar(self) -> str:
        """The name without ``docker.io/`` and ``library/``, as docker prints it."""
        name = self.name
        if self.domain == DEFAULT_DOMAIN:
            name = self.path.removeprefix(OFFICIAL_REPO_PREFIX)
        if self.tag is not None:
            name += ":" + self.tag
        if self.digest is not None:
            name += "@" + self.digest
        return name


def go_quote(text: str) -> str:
    """Go's ``%q`` for the strings that occur here (the kubelet quotes image names with it)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _fail(image: str, why: str) -> InvalidImageName:
    # The kubelet's wrapping of the parser's error (pkg/util/parsers/parsers.go).
    return InvalidImageName(f"couldn't parse image name {go_quote(image)}: {why}")


def _split_docker_domain(name: str) -> tuple[str, str]:
    # normalize.go splitDockerDomain.
    i = name.find("/")
    first = name[:i]
    if i == -1 or (not any(c in first for c in ".:") and first != "localhost" and first.lower() == first):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, name[i + 1 :]
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_REPO_PREFIX + remainder
    return domain, remainder


def _check_digest(digest: str) -> str | None:
    # opencontainers/go-digest Digest.Validate: the error text when the digest is unusable.
    algorithm, _, encoded = digest.partition(":")
    if algorithm not in _DIGEST_HEX:
        return "unsupported digest algorithm"
    if len(encoded) != _DIGEST_HEX[algorithm]:
        return "invalid checksum digest length"
    if not re.fullmatch(r"[a-f0-9]+", encoded):
        return "invalid checksum digest format"
    return None


def parse(image: str, *, default_tag: bool = True) -> Reference:
    """Normalize ``image`` as ParseNormalizedNamed does; raise :class:`InvalidImageName`.

    With ``default_tag`` (the kubelet's ParseImageName), a reference with neither tag nor digest
    gets ``latest``; a reference with both keeps both (the digest is what is pulled).
    """
    if _IDENTIFIER.match(image):
        return _raise(image, f"invalid repository name ({image}), cannot specify 64-byte hexadecimal strings")
    domain, remainder = _split_docker_domain(image)
    remote = remainder.split(":", 1)[0] if ":" in remainder else remainder
    if remote.lower() != remote:
        return _raise(image, f"invalid reference format: repository name ({remote}) must be lowercase")
    full = f"{domain}/{remainder}"
    match = _REFERENCE.match(full)
    if match is None:
        # reference.go Parse: its three ways to say no.
        # (Parse's "repository name must have at least one component" needs an empty string,
        # which splitDockerDomain never leaves: "" becomes "docker.io/library/".)
        if _REFERENCE.match(full.lower()):
            return _raise(image, "repository name must be lowercase")
        return _raise(image, "invalid reference format")
    name, tag, digest = match.group(1), match.group(2), match.group(3)
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        return _raise(image, f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters")
    if digest is not None and (why := _check_digest(digest)) is not None:
        return _raise(image, why)
    path = name[len(domain) + 1 :]
    if default_tag and tag is None and digest is None:
        tag = "latest"
    return Reference(domain=domain, path=path, tag=tag, digest=digest)


def _raise(image: str, why: str) -> Reference:
    raise _fail(image, why)


def normalize(image: str) -> str:
    """The normalized text of ``image``: ``nginx`` -> ``docker.io/library/nginx:latest``."""
    return str(parse(image))


def is_loopback_host(host: str) -> bool:
    """Whether a registry host (``name[:port]``) is on this machine, where plain HTTP is allowed.

    Docker and containerd allow plain HTTP for localhost registries without configuration
    (containerd remotes/docker/config/hosts.go: ``localhost`` and loopback IPs).
    """
    hostname = host
    if hostname.startswith("["):
        hostname = hostname[1 : hostname.find("]")]
    elif hostname.count(":") == 1:
        hostname = hostname.split(":", 1)[0]
    if hostname == "localhost" or hostname == "::1":
        return True
    parts = hostname.split(".")
    return len(parts) == 4 and parts[0] == "127" and all(p.isdigit() and int(p) < 256 for p in parts)
