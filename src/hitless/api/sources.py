"""Reading manifest inputs (files, directories, stdin) without ever trusting them.

``kubectl apply -f`` takes a file, a directory (its ``.json``, ``.yaml`` and ``.yml`` files, not
recursively) or ``-``. Every way that can fail is an error naming the path, never an ``OSError``:
a missing path (kubectl's ``the path "x" does not exist``), a directory loop, a name too long, a
path with a NUL byte, a directory that cannot be listed.

Each input is read up to ``MAX_INPUT_BYTES``, the API server's request body limit (3 MiB,
``MaxRequestBodyBytes`` in k8s.io/apiserver/pkg/server/config.go): ``/dev/zero``, an endless pipe
or a 10 MB file stops there with a clear error instead of filling memory. A regular file is
checked by its size before a byte is read. Bytes that are not UTF-8 are go-yaml's error with the
line, whether they came from a file or from stdin.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO, TextIO

from hitless.api.errors import LoadError

MAX_INPUT_BYTES = 3 * 1024 * 1024
STDIN_NAME = "STDIN"  # as kubectl names it in messages
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
_CHUNK = 1 << 16


@dataclass(frozen=True)
class Source:
    """One input: its text, or why it could not be read (never both)."""

    name: str
    text: str | None = None
    error: LoadError | None = None


def read_paths(paths: Sequence[str], stdin: TextIO | None = None) -> Iterator[Source]:
    """The inputs of ``paths`` in order: directories expanded, ``-`` read from ``stdin``."""
    for path in paths:
        if path == "-":
            yield read_stdin(stdin)
            continue
        try:
            is_dir = os.path.isdir(path)
        except (OSError, ValueError):
            is_dir = False  # reading it says what is wrong
        if not is_dir:
            yield read_file(path)
            continue
        try:
            names = sorted(os.listdir(path))
        except OSError as e:
            yield Source(path, error=_os_error(path, e))
            continue
        for name in names:
            if name.endswith(MANIFEST_SUFFIXES):
                yield read_file(os.path.join(path, name))


def read_stdin(stdin: TextIO | None = None) -> Source:
    stream = stdin or sys.stdin
    if stream is None:  # started with stdin closed (``<&-``): Python has no sys.stdin at all
        return Source(
            STDIN_NAME, error=LoadError(STDIN_NAME, 0, f"read {STDIN_NAME}: bad file descriptor", "file")
        )
    buffer: BinaryIO | None = getattr(stream, "buffer", None)
    try:
        if buffer is not None:
            return _decode(STDIN_NAME, _read_limited(buffer.read))
        text = stream.read(MAX_INPUT_BYTES + 1)  # a text stream (tests): characters, near enough
        if len(text) > MAX_INPUT_BYTES:
            return Source(STDIN_NAME, error=_too_large(STDIN_NAME))
        return Source(STDIN_NAME, text=text)
    except _TooLarge:
        return Source(STDIN_NAME, error=_too_large(STDIN_NAME))
    except (OSError, ValueError) as e:
        return Source(STDIN_NAME, error=LoadError(STDIN_NAME, 0, f"read {STDIN_NAME}: {_reason(e)}", "file"))


def read_file(path: str) -> Source:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY)
    except FileNotFoundError:
        return Source(path, error=LoadError(path, 0, f'the path "{path}" does not exist', "file"))
    except (OSError, ValueError) as e:
        return Source(path, error=_os_error(path, e))
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            return Source(path, error=_os_error(path, IsADirectoryError(errno.EISDIR, "is a directory")))
        if stat.S_ISREG(info.st_mode) and info.st_size > MAX_INPUT_BYTES:
            return Source(path, error=_too_large(path))
        # Devices, pipes and FIFOs have no size to trust: read, and stop at the limit.
        return _decode(path, _read_limited(lambda n: os.read(fd, n)))
    except _TooLarge:
        return Source(path, error=_too_large(path))
    except OSError as e:
        return Source(path, error=_os_error(path, e, "read"))
    finally:
        os.close(fd)


class _TooLarge(Exception):
    pass


def _read_limited(read: Callable[[int], bytes]) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        part = read(min(_CHUNK, MAX_INPUT_BYTES + 1 - total))
        if not part:
            return b"".join(parts)
        parts.append(part)
        total += len(part)
        if total > MAX_INPUT_BYTES:
            raise _TooLarge


def _decode(name: str, data: bytes) -> Source:
    try:
        return Source(name, text=data.decode("utf-8"))
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        message = "error converting YAML to JSON: yaml: invalid leading UTF-8 octet"
        return Source(name, error=LoadError(name, line, message, "yaml"))


def _too_large(name: str) -> LoadError:
    message = (
        f"read {name}: Request entity too large: limit is {MAX_INPUT_BYTES} "
        "(the API server's request size; hitless reads no more of one input)"
    )
    return LoadError(name, 0, message, "file")


def _os_error(path: str, e: OSError | ValueError, op: str = "open") -> LoadError:
    return LoadError(path, 0, f"{op} {path}: {_reason(e)}", "file")


def _reason(e: OSError | ValueError) -> str:
    """Go's wording of the errno (``syscall.Errno.Error()`` is the C library's text, lower-cased)."""
    if isinstance(e, ValueError):  # os functions refuse a NUL byte before any system call
        return "invalid argument"
    if e.errno is not None:
        return os.strerror(e.errno).lower()
    return (e.strerror or str(e)).lower()
