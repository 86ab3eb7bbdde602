"""Go's ``encoding/base64.StdEncoding``, as the API server's JSON decoder applies it to ``[]byte``
fields (a Secret's ``data``, a ConfigMap's ``binaryData``): the same offsets in its errors.

A port of ``decodeQuantum`` (src/encoding/base64/base64.go): ``\\r`` and ``\\n`` are skipped,
padding is required, and the first bad byte is reported as ``illegal base64 data at input byte N``.
"""

from __future__ import annotations

import base64

_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_DECODE = {c: i for i, c in enumerate(_ALPHABET)}
_NEWLINES = (ord("\n"), ord("\r"))
_PAD = ord("=")


def _corrupt(offset: int) -> str:
    return f"illegal base64 data at input byte {offset}"


def decode_error(text: str) -> str | None:
    """Why Go's StdEncoding.Decode refuses ``text``, or None when it decodes."""
    src = text.encode()
    si = 0
    while si < len(src):
        si, problem = _quantum(src, si)
        if problem is not None:
            return problem
    return None


def _quantum(src: bytes, si: int) -> tuple[int, str | None]:
    j = 0
    while j < 4:
        if si == len(src):
            if j == 0:
                return si, None
            return si, _corrupt(si - j)  # StdEncoding pads: a short quantum is corrupt
        c = src[si]
        si += 1
        if c in _DECODE:
            j += 1
            continue
        if c in _NEWLINES:
            continue
        if c != _PAD:
            return si, _corrupt(si - 1)
        if j in (0, 1):
            return si, _corrupt(si - 1)
        if j == 2:
            while si < len(src) and src[si] in _NEWLINES:
                si += 1
            if si == len(src):
                return si, _corrupt(len(src))
            if src[si] != _PAD:
                return si, _corrupt(si - 1)
            si += 1
        while si < len(src) and src[si] in _NEWLINES:
            si += 1
        if si < len(src):
            return si, _corrupt(si)  # trailing garbage after the padding
        return si, None
    return si, None


def decode(text: str) -> bytes:
    """The bytes of a value :func:`decode_error` accepted."""
    return base64.b64decode(text.replace("\n", "").replace("\r", ""))


def encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
