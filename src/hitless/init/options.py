"""Command line of ``hitless init``.

Hand-written rather than argparse: argparse imports ``re`` and ``gettext`` and costs several
milliseconds on every container start. Short options combine getopt-style (``-sgv``, ``-e143``)
so that tini command lines keep working.
"""

from __future__ import annotations

from hitless.init import sig

TYPE_CHECKING = False  # mypy treats this name as true; at run time `typing` is never imported
if TYPE_CHECKING:
    from collections.abc import Mapping

# Signals that start a shutdown: they are held back by --delay-stop, arm --grace and are passed
# on to the leftovers once the child is gone. HUP is deliberately absent: daemons (nginx,
# haproxy, sshd) treat it as "reload", and a reload must not start a SIGKILL countdown.
DEFAULT_STOP_SIGNALS = frozenset({sig.SIGTERM, sig.SIGINT, sig.SIGQUIT})

USAGE = """\
usage: hitless init [options] [--] CMD [ARGS...]

A PID 1 for containers: runs CMD as its child, forwards signals to it, reaps zombies and
exits with CMD's status (128+N when CMD died of signal N).

options:
  -s, --subreaper        register as a child subreaper when not PID 1 (env TINI_SUBREAPER)
  -g, --process-group    forward signals to CMD's whole process group
                         (env TINI_KILL_PROCESS_GROUP)
  -e, --remap-exit CODE  exit 0 when CMD exits with CODE (repeatable, e.g. -e 143)
  --grace SECONDS        after forwarding a stop signal, wait up to SECONDS for every
                         descendant (not only CMD), then SIGKILL what is left
  --delay-stop SECONDS   hold the first stop signal back for SECONDS before forwarding it
                         (a preStop sleep for images without a shell)
  --stop-signals LIST    the signals that start a shutdown (default TERM,INT,QUIT)
  --stop-orphans         when CMD exits by itself and descendants remain, stop them too:
                         SIGTERM, up to --grace seconds, then SIGKILL (default: exit at
                         once, as tini does)
  -v, --verbose          log events as logfmt lines on stderr; -vv for more
                         (env TINI_VERBOSITY, tini's scale: 2 is -v, 3 is -vv)
  --version              print the version
  -h, --help             show this help

Stop signals: TERM, INT and QUIT by default; HUP is forwarded but does not start a shutdown.

Exit status: CMD's (as tini); 127 when CMD is not found, 126 when it cannot be executed;
1 when -s cannot register a subreaper; 2 on a usage error; 3 on an internal error of
hitless init (the traceback is written to a file named on stderr).
"""


class UsageError(Exception):
    pass


class Options:
    """What ``hitless init`` was asked to do (a plain class: dataclasses import ``inspect``)."""

    def __init__(self) -> None:
        self.subreaper = False
        self.process_group = False
        self.remap_exit: set[int] = set()
        self.grace: float | None = None
        self.delay_stop = 0.0
        self.stop_signals: frozenset[int] = DEFAULT_STOP_SIGNALS
        self.stop_orphans = False
        self.verbosity = 0
        self.command: list[str] = []
        # --help / --version: print this and exit 0 without running anything.
        self.show: str | None = None


def _seconds(flag: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{flag}: not a number of seconds: {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise UsageError(f"{flag}: must be a finite number >= 0: {text!r}")
    return value


def _exit_code(text: str) -> int:
    if not text.isdigit() or int(text) > 255:
        raise UsageError(f"-e: not an exit code 0-255: {text!r}")
    return int(text)


def _signals(text: str) -> frozenset[int]:
    try:
        result = frozenset(sig.parse(part.strip()) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise UsageError(f"--stop-signals: {exc}") from None
    if not result:
        raise UsageError("--stop-signals: empty list")
    if result & {sig.SIGKILL, sig.SIGSTOP, sig.SIGCHLD}:
        raise UsageError("--stop-signals: KILL, STOP and CHLD cannot be stop signals")
    return result


# Long options that take a value, and the short options that do.
_LONG_VALUE = {"--remap-exit", "--grace", "--delay-stop", "--stop-signals"}
_SHORT_VALUE = {"e": "--remap-exit"}
_SHORT_FLAG = {"s": "--subreaper", "g": "--process-group", "v": "--verbose", "h": "--help"}


def _apply(opts: Options, flag: str, value: str | None) -> None:
    if flag == "--subreaper":
        opts.subreaper = True
    elif flag == "--process-group":
        opts.process_group = True
    elif flag == "--verbose":
        opts.verbosity += 1
    elif flag in ("--help", "--version"):
        opts.show = opts.show or flag[2:]
    elif flag == "--stop-orphans":
        opts.stop_orphans = True
    elif value is None:
        raise UsageError(f"unknown option {flag}")
    elif flag == "--remap-exit":
        opts.remap_exit.add(_exit_code(value))
    elif flag == "--grace":
        opts.grace = _seconds(flag, value)
    elif flag == "--delay-stop":
        opts.delay_stop = _seconds(flag, value)
    elif flag == "--stop-signals":
        opts.stop_signals = _signals(value)


def _from_env(opts: Options, environ: Mapping[str, str]) -> None:
    # tini tests these with getenv() != NULL: set, even to "", means on.
    if "TINI_SUBREAPER" in environ:
        opts.subreaper = True
    if "TINI_KILL_PROCESS_GROUP" in environ:
        opts.process_group = True
    # tini's scale starts at 1 (warnings only, its default) where ours starts at 0.
    verbosity = environ.get("TINI_VERBOSITY", "")
    if verbosity.isdigit():
        opts.verbosity = max(0, int(verbosity) - 1)


def parse(argv: list[str], environ: Mapping[str, str]) -> Options:
    """Options from the command line and tini's environment variables; raises UsageError."""
    opts = Options()
    _from_env(opts, environ)
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            break
        if arg.startswith("--"):
            flag, eq, inline = arg.partition("=")
            if flag in _LONG_VALUE:
                if not eq:
                    if i >= len(argv):
                        raise UsageError(f"{flag} needs a value")
                    inline = argv[i]
                    i += 1
                _apply(opts, flag, inline)
            elif eq:
                raise UsageError(f"{flag} takes no value")
            else:
                _apply(opts, flag, None)
            continue
        if not arg.startswith("-") or arg == "-":
            i -= 1
            break
        for pos, letter in enumerate(arg[1:], start=1):
            if letter in _SHORT_VALUE:
                value = arg[pos + 1 :]
                if not value:
                    if i >= len(argv):
                        raise UsageError(f"-{letter} needs a value")
                    value = argv[i]
                    i += 1
                _apply(opts, _SHORT_VALUE[letter], value)
                break
            if letter not in _SHORT_FLAG:
                raise UsageError(f"unknown option -{letter}")
            _apply(opts, _SHORT_FLAG[letter], None)
    opts.command = argv[i:]
    if opts.show is not None:
        return opts
    if not opts.command:
        raise UsageError("no command given (hitless init [options] -- CMD [ARGS...])")
    if opts.stop_orphans and opts.grace is None:
        raise UsageError("--stop-orphans needs --grace")
    return opts
