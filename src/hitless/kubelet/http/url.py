"""URLs and requests as the kubelet builds them: pkg/probe/http/request.go and Go's net/url."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field

from hitless import KUBERNETES_VERSION


def user_agent(component: str) -> str:
    """kube-probe/1.34 or kube-lifecycle/1.34."""
    return f"{component}/{KUBERNETES_VERSION}"


_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
_PATH_KEEP = _UNRESERVED | frozenset(b"$&+,/:;=@")  # escape(s, encodePath) leaves these
_VALID_ENCODED = _PATH_KEEP | frozenset(b"!'()*[]%")  # url.validEncoded accepts these too
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
CTL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class URL:
    scheme: str
    host: str  # host:port as in the URL (u.Host)
    path: str = ""  # escaped (EscapedPath)
    query: str | None = None  # None: no "?"
    opaque: str = ""

    @property
    def hostname(self) -> str:
        if self.host.startswith("["):
            return self.host[1 : self.host.find("]")]
        return self.host.rsplit(":", 1)[0] if ":" in self.host else self.host

    @property
    def port(self) -> int:
        if self.host.startswith("["):
            rest = self.host[self.host.find("]") + 1 :]
            tail = rest[1:] if rest.startswith(":") else ""
        else:
            tail = self.host.rsplit(":", 1)[1] if ":" in self.host else ""
        return int(tail) if tail.isdigit() else (443 if self.scheme == "https" else 80)

    @property
    def target(self) -> str:
        """RequestURI(): what goes on the request line."""
        result = self.path or "/"
        return result if self.query is None else f"{result}?{self.query}"

    def __str__(self) -> str:
        text = f"{self.scheme}:{self.opaque}" if self.opaque else f"{self.scheme}://{self.host}{self.path}"
        return text if self.query is None else f"{text}?{self.query}"


def unescape(s: str) -> bytes | None:
    """url.unescape in path mode; None for a malformed escape."""
    if _BAD_ESCAPE.search(s):
        return None
    return urllib.parse.unquote_to_bytes(s)


def escape_path(raw: bytes) -> str:
    """url.escape(s, encodePath)."""
    return "".join(chr(b) if b in _PATH_KEEP else f"%{b:02X}" for b in raw)


def escaped_path(raw: str) -> str:
    """URL.EscapedPath() of a path that parsed: the original spelling when it is validly encoded."""
    encoded = raw.encode()
    if all(b in _VALID_ENCODED for b in encoded):
        return raw
    decoded = unescape(raw)
    return escape_path(decoded if decoded is not None else encoded)


def resolve_location(base: URL, location: str) -> URL:
    """``req.URL.Parse(loc)``: a Location header resolved against the request's URL."""
    if CTL.search(location):
        raise ValueError("net/url: invalid control character in URL")
    parts = urllib.parse.urlsplit(urllib.parse.urljoin(str(base), location))
    host = parts.netloc.rsplit("@", 1)[-1]
    query = parts.query if parts.query or location.rstrip("#").endswith("?") else None
    return URL(parts.scheme.lower(), host, escaped_path(parts.path), query)


def canonical_key(name: str) -> str:
    """textproto.CanonicalMIMEHeaderKey."""
    if not name or any(c in name for c in " \t\r\n:"):
        return name
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


@dataclass
class Request:
    url: URL
    # Go's http.Header: canonical names, values in order; written sorted by name.
    header: dict[str, list[str]] = field(default_factory=dict)
    host: str = ""  # req.Host; empty: the URL's host
    # The bytes wire() made of it and the ``extra`` they were made with: a probe's request is
    # written again every period.
    wired: tuple[Sequence[tuple[str, str]], bytes] | None = field(default=None, compare=False, repr=False)

    def get(self, name: str) -> str:
        values = self.header.get(name)
        return values[0] if values else ""


def new_request(url: URL, headers: list[tuple[str, str]], purpose: str) -> Request:
    """request.go newProbeRequest: the user's headers, then User-Agent and Accept defaults."""
    header: dict[str, list[str]] = {}
    for name, value in headers:
        header.setdefault(canonical_key(name), []).append(value)
    if "User-Agent" not in header:
        header["User-Agent"] = [user_agent(f"kube-{purpose}")]
    if "Accept" not in header:
        header["Accept"] = ["*/*"]
    elif header["Accept"][0] == "":
        del header["Accept"]  # overridden with an empty value: removed
    req = Request(url, header)
    req.host = req.get("Host")
    return req
