"""A request as the endpoints see it and the answer they give, whatever the transport."""

from __future__ import annotations

from collections.abc import Callable


class Request:
    # Plain classes, not dataclasses: see specs.py.
    __slots__ = (
        "body_bytes",
        "headers",
        "http_version",
        "local",
        "method",
        "on_connection",
        "path",
        "peer",
        "query",
        "scheme",
        "target",
    )

    def __init__(
        self,
        *,
        method: str,
        target: str,
        query: dict[str, str],
        http_version: str,
        headers: list[tuple[str, str]],
        body_bytes: int,
        peer: tuple[str, int],
        local: tuple[str, int],
        on_connection: int,
        scheme: str = "http",
    ) -> None:
        self.method, self.target, self.query = method, target, query
        self.path = target.partition("?")[0]
        # In the order received, repeats included, names as the client spelled them.
        self.http_version, self.headers, self.body_bytes = http_version, headers, body_bytes
        self.peer, self.local = peer, local
        self.on_connection = on_connection  # 1 for a connection's first request: shows keep-alive reuse
        self.scheme = scheme  # https on a --tls-port

    def header(self, name: str) -> str | None:
        """The first value of a header, by its name in any case."""
        return next((v for n, v in self.headers if n.lower() == name), None)


class Response:
    __slots__ = ("after", "body", "content_type", "hang", "headers", "status")

    def __init__(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "text/plain; charset=utf-8",
        after: Callable[[], None] | None = None,
        hang: bool = False,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        self.status, self.body, self.content_type, self.hang = status, body, content_type, hang
        self.headers = headers or []  # beyond the ones every answer carries, e.g. Location
        # Run once the response is on the wire, e.g. /exit's exit, so the client sees its answer.
        self.after = after


def text(status: int, body: str, headers: list[tuple[bytes, bytes]] | None = None) -> Response:
    return Response(status, (body + "\n").encode(), headers=headers)


def query_int(req: Request, name: str, default: int, low: int, high: int, what: str) -> int:
    """An integer query parameter; ValueError with a message for the client when out of range."""
    raw = req.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ValueError(f"{name} must be {what} between {low} and {high}, not {raw!r}")
    return value
