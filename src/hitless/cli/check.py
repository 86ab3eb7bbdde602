"""``hitless check FILE...``: lint manifests for zero-downtime mistakes, with the numbers behind each."""

from __future__ import annotations

import argparse
import sys

from hitless.check.traffic import DEFAULT_LB_PRESET, DEFAULT_NODES, DEFAULT_PROPAGATION_DELAY_S, LB_PRESETS
from hitless.cli import flags
from hitless.cli.errors import EXIT_CODES_HELP


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hitless check",
        description=(
            "Check Kubernetes manifests for what drops traffic or restarts pods needlessly during "
            "rollouts, with the timeline each configuration implies. Exit 0: no error-level "
            "finding; 1: at least one; 2: an input could not be read. Rules: docs/rules.md."
        ),
        epilog=EXIT_CODES_HELP,
    )
    p.add_argument("files", nargs="*", metavar="FILE", help="manifest files or directories; - for stdin")
    p.add_argument("--format", "-o", choices=("text", "json", "sarif", "junit", "markdown"), default="text")
    p.add_argument(
        "--propagation-delay",
        type=flags.seconds,
        default=DEFAULT_PROPAGATION_DELAY_S,
        metavar="S",
        help="seconds from a pod's deletion until no node routes to it "
        f"(default {DEFAULT_PROPAGATION_DELAY_S:g})",
    )
    p.add_argument(
        "--lb-preset",
        choices=sorted(LB_PRESETS),
        default=DEFAULT_LB_PRESET,
        help="the load balancer's health check, for externalTrafficPolicy: Local "
        f"(default {DEFAULT_LB_PRESET})",
    )
    p.add_argument(
        "--nodes",
        type=flags.nodes,
        default=DEFAULT_NODES,
        metavar="N",
        help=f"nodes (default {DEFAULT_NODES}, at most {flags.MAX_NODES})",
    )
    p.add_argument(
        "--list-rules", action="store_true", help="list the rules (--format markdown: docs/rules.md)"
    )
    return p


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from hitless.check import docs

    if args.list_rules:
        sys.stdout.write(docs.markdown() if args.format == "markdown" else docs.plain())
        return 0
    if not args.files:
        parser.error("at least one FILE (or -) is required")
    if args.format == "markdown":
        parser.error("--format markdown is for --list-rules")
    from hitless.check.formats import FORMATS
    from hitless.check.formats.safe import for_terminal
    from hitless.check.model import Params
    from hitless.check.runner import run_check

    params = Params(args.propagation_delay, LB_PRESETS[args.lb_preset], args.nodes)
    report = run_check(args.files, params, stdin=sys.stdin)
    for error in report.unreadable:
        print(for_terminal(f"hitless check: {error.format()}"), file=sys.stderr)
    sys.stdout.write(FORMATS[args.format](report))
    return report.exit_code
