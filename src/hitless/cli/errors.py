"""Exit codes, and what an internal error looks like.

Every command but ``demo-app`` means one thing by each exit code, so that a CI pipeline can
tell a broken manifest from a broken tool:

- 0: ok;
- 1: findings (``check``), failed requests or a workload that never served (``verify``), a pod
  that failed (``up``);
- 2: bad input or usage: nothing was judged;
- 3: an internal error, a bug in hitless: a short message on stderr naming what failed and the
  file holding the traceback. Never a verdict on the manifests.

``hitless init`` keeps tini's statuses (CMD's own, 126/127 when CMD cannot run; docs/init.md);
its usage errors are 2 and its internal errors 3, as the other commands'.

Imported only when something went wrong: ``hitless init`` must start on the standard library
alone, and fast.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import sys
import tempfile
import traceback
from pathlib import Path

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_INTERNAL = 3
# The reader of the output went away (`hitless up -o jsonl | head`): what a process killed by
# SIGPIPE reports, as a shell pipeline expects; Python ignores SIGPIPE and raises instead.
EXIT_BROKEN_PIPE = 128 + 13

# The exit codes as each command's --help and the README state them.
EXIT_CODES_HELP = (
    "exit status: 0 ok; 1 findings or failures; 2 bad input or usage (nothing was judged); "
    "3 internal error of hitless (the traceback is written to a file named on stderr)"
)


def crash_dir() -> Path:
    """Where tracebacks go: $XDG_STATE_HOME/hitless (~/.local/state/hitless), as the XDG base
    directory spec places state that outlives a run; the temporary directory where that cannot
    be written."""
    state = os.environ.get("XDG_STATE_HOME") or ""
    base = Path(state) if os.path.isabs(state) else Path.home() / ".local" / "state"
    return base / "hitless"


def write_traceback(command: str, error: BaseException, component: str | None = None) -> Path | None:
    """Write the traceback of ``error`` to a new file; its path, or None if nothing could be written."""
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    text = "".join(
        [
            f"hitless {command}: internal error"
            + (f" in component {component!r}" if component else "")
            + f" at {stamp}\n",
            f"argv: {sys.argv!r}\n\n",
            *traceback.format_exception(error),
        ]
    )
    for folder in (crash_dir(), Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            # (A PID alone would not do: the engine is PID 2 of its own namespace in every run.)
            fd, name = tempfile.mkstemp(prefix=f"crash-{command}-{stamp}-", suffix=".txt", dir=folder)
            with open(fd, "w", encoding="utf-8") as out:
                out.write(text)
            return Path(name)
        except OSError:
            continue
    return None


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush does not fail again."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def internal_error(command: str, error: BaseException) -> int:
    """Report an unexpected exception of ``hitless COMMAND`` on stderr; returns EXIT_INTERNAL.

    A failed supervised component (``hitless.tasks.ComponentFailed``) is named with its own
    exception; anything else is the command's own. An exception that says it is not a fault of
    hitless (``exit_code`` 2: an address another process holds) is reported as such, exit 2.
    """
    component: str | None = None
    failure = getattr(error, "failure", None)
    inner = getattr(failure, "error", None)
    if isinstance(inner, BaseException) and isinstance(getattr(failure, "component", None), str):
        component = failure.component  # type: ignore[union-attr]
        error = inner
    if isinstance(error, BrokenPipeError):
        _silence_stdout()
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write(f"hitless {command}: its output was closed (broken pipe): stopped\n")
        return EXIT_BROKEN_PIPE
    if getattr(error, "exit_code", None) == EXIT_INVALID:
        # Not a fault of hitless but of what it was asked to do here (an address another process
        # holds): said as such, without a traceback.
        sys.stderr.write(f"hitless {command}: {error}; nothing was judged\n")
        return EXIT_INVALID
    path = write_traceback(command, error, component)
    where = f" in {component}" if component else ""
    summary = f"{type(error).__name__}: {error}".rstrip(": ")
    lines = [f"hitless {command}: internal error{where}: {summary}"]
    if path is not None:
        lines.append(f"hitless {command}: the traceback is in {path}")
    else:
        lines.append(f"hitless {command}: (no file could be written for the traceback; here it is)")
        lines.extend(line.rstrip("\n") for line in traceback.format_exception(error))
    lines.append(
        f"hitless {command}: this is a bug in hitless, not a verdict on the manifests "
        f"(exit {EXIT_INTERNAL}); please report it with that file"
    )
    try:
        sys.stderr.write("".join(line + "\n" for line in lines))
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    return EXIT_INTERNAL
