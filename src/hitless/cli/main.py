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
  agent load ...    the in-cluster load agent that 'verify --kubeconfig' starts in a Pod
  demo-app          the test workload: an HTTP server with knobs for probes, shutdown and latency
  init -- CMD       a PID 1 that forwards signals, reaps zombies and finishes the shutdown
  version           print hitless's version

exit status: 0 ok; 1 findings or failures; 2 bad input or usage; 3 internal error of hitless
(the traceback is written to a file named on stderr). 'hitless init' exits with CMD's status.

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


def _agent(argv: list[str]) -> int:
    from hitless.cli.agent import main as agent_main

    return agent_main(argv)


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
    "agent": _agent,
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
    try:
        return command(args[1:])
    except SystemExit:
        raise  # argparse: --help (0) and usage errors (2)
    except KeyboardInterrupt:
        # Ctrl-C before the command's own handlers were in place (loading, start-up): nothing
        # was judged and nothing is left running (the engine's PID namespace went with it).
        sys.stderr.write(f"hitless {args[0]}: interrupted\n")
        return 130
    except BaseException as exc:
        # Exit 3, never 1: an internal error must not read as a verdict (cli/errors.py).
        from hitless.cli.errors import internal_error

        return internal_error(args[0], exc)
