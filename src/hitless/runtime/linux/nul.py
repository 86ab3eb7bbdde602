"""NUL bytes in a container's command, args or env: refused at start as runc refuses them.

The API server accepts them (JSON strings may hold ``\\u0000`` and ``ValidatePod`` does not look
inside ``command``, ``args`` or env values), so the pod is created and the failure comes at
start, from runc (opencontainers/runc, read at its 2026 main branch):

- ``libcontainer/env.go`` ``prepareEnv``, before anything else in the container's init:
  ``invalid environment variable "KEY": contains nul byte (\\x00)``;
- then ``exec.LookPath(args[0])`` (``standard_init_linux.go``): Go's system calls refuse a
  path with a NUL (EINVAL), so a bare name is ``executable file not found in $PATH`` and a
  path is ``stat PATH: invalid argument``;
- then ``unix.Exec``, which refuses any argument holding a NUL: ``exec PATH: invalid argument``.

Python's ``subprocess`` would raise ``ValueError: embedded null byte`` instead; checking first
turns each into the ``StartError`` (or exec failure) with runc's words, as containerd reports it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from hitless.runtime.cri import StartError
from hitless.runtime.linux.lookup import CREATE_PREFIX, ExecutableError


def quote(s: str) -> str:
    """Go's ``%q`` for what these messages hold (api/gofmt.py has the whole of it, but importing
    the api package here would load pydantic into the engine's runtime)."""
    escapes = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}
    out = "".join(
        escapes.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x20 or ord(ch) == 0x7F else ch) for ch in s
    )
    return f'"{out}"'


def refuse_nul(argv: Sequence[str], env: Mapping[str, str], prefix: str = CREATE_PREFIX) -> None:
    """Raise the error runc gives when any of ``argv`` or ``env`` holds a NUL byte."""
    # prepareEnv walks the environment from its end (the last of a duplicated key wins).
    for key, value in reversed(list(env.items())):
        if "\x00" in key or "\x00" in value:
            raise StartError(
                f"{prefix}error during container init: invalid environment variable {quote(key)}: "
                "contains nul byte (\\x00): unknown"
            )
    if not argv:
        return
    name = argv[0]
    if "\x00" in name:
        if "/" in name:
            raise ExecutableError(f"{prefix}exec: {quote(name)}: stat {name}: invalid argument: unknown", 127)
        raise ExecutableError(
            f"{prefix}exec: {quote(name)}: executable file not found in $PATH: unknown", 127
        )
    if any("\x00" in arg for arg in argv[1:]):
        raise StartError(f"{prefix}exec {name}: invalid argument: unknown")
