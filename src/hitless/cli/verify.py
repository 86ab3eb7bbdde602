"""``hitless verify FILE...``: run the workload, load its Service, run a scenario, explain every failure.

Input is checked before anything starts (exit 2). Then the engine runs in its own PID namespace,
as for ``hitless up``, with an observed runtime feeding the pod timeline. Exit 0 when at most
``--max-failures`` requests failed, 1 when more (or the workload never became ready), 2 on bad input.
The run is a library call on verify/options.py's VerifyOptions (verify/local.py; --kubeconfig:
verify/cluster.py), both giving verify/result.py's Result, which verify/emit.py prints: this
module parses, checks, calls and prints.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

from hitless.api import load
from hitless.api.loader import LoadedObject
from hitless.cli import flags
from hitless.cli.addresses import claim_addresses
from hitless.cli.errors import EXIT_CODES_HELP
from hitless.cli.imageflags import add_image_flags, image_service
from hitless.cli.logdirs import clean_stale, make_run_log_dir, remove_run_log_dir
from hitless.kubelet.images import ImageConfigError
from hitless.runtime.linux import NamespacesUnavailable
from hitless.verify.emit import emit_result
from hitless.verify.local import plan_local, verify_local
from hitless.verify.options import ClusterTarget, VerifyOptions
from hitless.verify.picking import pick_service, pick_workload
from hitless.verify.result import Result
from hitless.verify.scenarios import SCENARIOS

EXIT_FAILED = 1
EXIT_INVALID = 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hitless verify",
        epilog=EXIT_CODES_HELP + "; 1 here: more failed requests than --max-failures, or the run "
        "did not complete; 2 also: the namespaces hitless needs are unavailable, a Service's address is "
        "held by another process, or this machine cannot send --rps",
        description="Run the manifests, send open-loop load through the Service while a scenario runs "
        "(a rollout by default), and explain every failed request: pod, node, phase, cause, fix.",
    )
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--service", metavar="NAME", help="the Service to load (default: the only one)")
    p.add_argument("--path", default="/", help="HTTP path to request (default /)")
    p.add_argument("--rps", type=float, default=200, metavar="N", help="requests per second (default 200)")
    p.add_argument("--connections", choices=("keepalive", "close", "mixed"), default="keepalive")
    p.add_argument("--scenario", choices=SCENARIOS, default="rollout")
    p.add_argument("--repeat", type=int, default=3, metavar="K", help="run the scenario K times (default 3)")
    p.add_argument("--nodes", type=int, default=2, metavar="N")
    p.add_argument("--propagation-delay", type=float, metavar="S", help="fixed endpoint propagation delay")
    p.add_argument("--lb-preset", default="gce", metavar="NAME", help="load balancer preset: gce, aws-nlb")
    p.add_argument("--max-failures", type=int, default=0, metavar="N")
    p.add_argument("--timeout", type=float, default=3.0, metavar="S", help="per-request timeout (default 3)")
    p.add_argument(
        "--report", metavar="DIR", help="write DIR/report.json, DIR/report.html and DIR/timeline.png"
    )
    p.add_argument("--format", choices=("text", "json", "junit"), default="text")
    p.add_argument(
        "--workload",
        metavar="KIND/NAME",
        help="deployment/NAME, statefulset/NAME or daemonset/NAME to act on "
        "(default: the one behind the Service)",
    )
    add_image_flags(p)
    # Cluster mode (issue 20): the same run on any API server, verify/cluster.py.
    # A bare --kubeconfig (or --context alone) is $KUBECONFIG, else ~/.kube/config: cluster mode
    # stays a choice made on the command line, never implied by the environment (docs/verify.md).
    p.add_argument(
        "--kubeconfig",
        nargs="?",
        const="",
        metavar="PATH",
        help="verify on the cluster this kubeconfig names (bare: $KUBECONFIG, else ~/.kube/config)",
    )
    p.add_argument("--context", metavar="NAME", help="the kubeconfig context to use (implies --kubeconfig)")
    p.add_argument(
        "--namespace",
        metavar="NS",
        help="with --kubeconfig: an existing namespace instead of a throwaway one",
    )
    p.add_argument(
        "--allow-node-drain",
        action="store_true",
        help="with --kubeconfig: let --scenario node-drain cordon and drain a node of the cluster",
    )
    p.add_argument(
        "--load-from",
        choices=("auto", "runner", "agent"),
        help="with --kubeconfig: send the load from this machine, or from a Pod in the cluster "
        "(the load agent); auto (default): this machine when the Service answers here",
    )
    p.add_argument("--agent-image", metavar="IMAGE", help="with --kubeconfig: the load agent's image")
    return p


def _error(message: str) -> int:
    print(f"hitless verify: {message}", file=sys.stderr)
    return EXIT_INVALID


def _report_dir_error(name: str) -> str | None:
    """Create DIR and make sure it takes files now, not after a whole run."""
    return flags.writable_dir_error("--report", name)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    opts = _options(args)
    flag_errors = opts.problems()
    for message in flag_errors:
        _error(message)
    if flag_errors:
        return EXIT_INVALID
    result = load(args.files, stdin=sys.stdin)
    for error in result.errors:
        print(error.format(), file=sys.stderr)
    if result.errors:
        return _error(f"{len(result.errors)} error(s); nothing was started")
    objects = [o.obj for o in result.applied()]
    picked = pick_service(objects, args.service)
    if isinstance(picked, str):
        return _error(picked)
    workload, _ = pick_workload(picked, objects, args.workload)
    if isinstance(workload, str):
        return _error(workload)
    if opts.cluster is not None:
        return _cluster(args, opts, result.applied())
    # Cluster mode stays a choice made on the command line: a flag of it alone is a mistake.
    for flag, value in (
        ("--namespace", args.namespace),
        ("--allow-node-drain", args.allow_node_drain or None),
        ("--load-from", args.load_from),
        ("--agent-image", args.agent_image),
    ):
        if value is not None:
            return _error(f"{flag} is for a cluster: it needs --kubeconfig")
    if isinstance(planned := plan_local(objects, opts), str):
        return _error(planned)
    if args.report and (problem := _report_dir_error(args.report)):
        return _error(problem)
    try:
        images = image_service(args)
    except ImageConfigError as exc:
        return _error(str(exc))
    # A Service address that another process listens on (a fixed clusterIP or nodePort, or any
    # port on the wildcard address) would send the load to that process: refuse it, naming the
    # holder (proxy/owner.py).
    prefixes, conflicts = claim_addresses(objects, args.nodes)
    for message in conflicts:
        _error(message)
    if conflicts:
        return _error(f"{len(conflicts)} error(s); nothing was started")
    opts = replace(opts, images=images, address_prefixes=prefixes)
    # A run that was SIGKILLed could not remove its log directory: the next one does (logdirs.py).
    clean_stale()
    log_dir, lock = make_run_log_dir()
    try:
        # Enters the engine's PID namespace first, as `hitless up` does (runtime/linux/bootstrap.py).
        outcome = verify_local(objects, opts, log_dir=log_dir, on_progress=_note)
    except NamespacesUnavailable as exc:
        print(f"hitless verify: {exc}", file=sys.stderr)
        return EXIT_INVALID  # nothing was judged: not the workload's failure
    finally:
        remove_run_log_dir(log_dir, lock)
    return _emit(args, outcome, result.applied())


def _options(args: argparse.Namespace) -> VerifyOptions:
    return VerifyOptions(
        files=tuple(args.files),
        service=args.service,
        workload=args.workload,
        path=args.path,
        rps=args.rps,
        connections=args.connections,
        scenario=args.scenario,
        repeat=args.repeat,
        nodes=args.nodes,
        propagation_delay=args.propagation_delay,
        lb_preset=args.lb_preset,
        max_failures=args.max_failures,
        timeout=args.timeout,
        cluster=_target(args),
    )


def _target(args: argparse.Namespace) -> ClusterTarget | None:
    """The cluster --kubeconfig or --context names; None: a run on this machine."""
    if args.kubeconfig is None and args.context is None:
        return None
    return ClusterTarget(
        kubeconfig=args.kubeconfig or None,  # a bare --kubeconfig: the default files
        context=args.context,
        namespace=args.namespace,
        allow_node_drain=args.allow_node_drain,
        load_from=args.load_from or "auto",
        agent_image=args.agent_image,
    )


def _cluster(args: argparse.Namespace, opts: VerifyOptions, loaded: list[LoadedObject]) -> int:
    # Here, not at import: the cluster client (aiohttp, the official client) only for cluster mode.
    from hitless.verify import cluster

    if isinstance(planned := cluster.plan_cluster([o.obj for o in loaded], opts), str):
        return _error(planned)
    if args.report and (problem := _report_dir_error(args.report)):
        return _error(problem)
    try:
        outcome = cluster.verify_cluster(loaded, opts)
    except cluster.Interrupted as exc:
        # The first Ctrl-C became a cancellation (the cleanup ran); a second one stopped that too.
        for namespace in exc.left:
            print(
                f"hitless verify: interrupted again; namespace {namespace} was left in place: "
                f"kubectl delete namespace {namespace}",
                file=sys.stderr,
            )
        print("hitless verify: interrupted", file=sys.stderr)
        return EXIT_FAILED
    except cluster.PreflightError as exc:
        return _error(str(exc))  # nothing of the run exists on the cluster
    except cluster.ClusterError as exc:
        print(f"hitless verify: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return _emit(args, outcome, loaded)


_STARTED = time.monotonic()


def _note(text: str) -> None:
    print(f"hitless verify: [{time.monotonic() - _STARTED:5.1f} s] {text}", file=sys.stderr, flush=True)


def _emit(args: argparse.Namespace, outcome: Result, loaded: list[LoadedObject]) -> int:
    if outcome.overload is not None:
        # This machine's limit, not the workload's failure: no verdict.
        return _error(
            f"the load generator could not keep up: {outcome.overload}; nothing was judged "
            f"(lower --rps; {outcome.sent} requests were sent)"
        )
    if outcome.report is None:
        return EXIT_FAILED
    emit_result(outcome, loaded, output=args.format, report_dir=args.report)
    if outcome.left is not None:
        # As kubectl delete --wait that times out: the run's verdict stands in the report, but
        # the command did not finish what it started (a namespace is left on the cluster).
        return EXIT_FAILED
    return 0 if outcome.passed else EXIT_FAILED
