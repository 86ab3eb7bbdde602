"""The ``hitless`` command: a thin dispatcher.

Each subcommand's module is imported only when that subcommand runs, so that ``hitless init``
(a PID 1) and ``hitless demo-app`` (a workload started once per container) start fast and do not
load the engine, pydantic or the schemas.
"""

from __future__ import annotations

import sys

# Not typing.TYPE_CHECKING: importing typing costs `hitless init` start-up time; mypy honours this.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

USAGE = """\
usage: hitless <command> [options]

commands:
  up FILE...        run the Pods of the manifests as local processes, with the kubelet's lifecycle
  verify FILE...    load a Service through a rollout; explain every dropped request (pod, phase, fix)
  check FILE...     lint manifests for zero-downtime mistakes, with the numbers behind each finding
  images ls|pull|prune  the image cache every run shares
  demo-app          the test workload: an HTTP server with knobs for probes, shutdown and latency
  init -- CMD       a PID 1 that forwards signals, reaps zombies and finishes the shutdown
  version           print hitless's version

'hitless <command> --help' for a command's options.
"""


def _up(argv: list[str]) -> int:
    from hitless.cli.up import main as up_main

    return up_main(argv)


def _verify(argv: list[str]) -> int:
    from hitless.cli.verify import main as verify_main

    return verify_main(argv)


def _check(argv: list[str]) -> int:
    from hitless.cli.check import main as check_main

    return check_main(argv)


def _demo_app(argv: list[str]) -> int:
    from hitless.demo.app import main as demo_main

    return demo_main(argv)


def _init(argv: list[str]) -> int:
    from hitless.init.main import main as init_main

    return int(init_main(argv))


def _images(argv: list[str]) -> int:
    from hitless.cli.images import main as images_main

    return images_main(argv)


def _version(argv: list[str]) -> int:
    from hitless import KUBERNETES_VERSION, __version__

    print(f"hitless {__version__} (Kubernetes {KUBERNETES_VERSION} semantics)")
    return 0


COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "up": _up,
    "verify": _verify,
    "check": _check,
    "demo-app": _demo_app,
    "init": _init,
    "version": _version,
    "images": _images,
}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0
    command = COMMANDS.get(args[0])
    if command is None:
        sys.stderr.write(f"hitless: unknown command {args[0]!r}\n\n{USAGE}")
        return 2
    return command(args[1:])
