"""``hitless up FILE...``: run the Pods of the manifests until Ctrl-C, SIGTERM or --duration.

Everything that can be refused is checked before anything starts: the manifests (exit 2 with
every error, file:line and the API server's message), the image mappings, the namespaces the
runtime needs. Then the engine runs in its own PID namespace, so no process outlives it.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from hitless import KUBERNETES_VERSION, __version__
from hitless.api import load
from hitless.api.summary import stored_lines
from hitless.api.types.apps import Deployment
from hitless.api.types.daemonset import DaemonSet
from hitless.api.types.job import CronJob, Job
from hitless.api.types.meta import K8sObject
from hitless.api.types.pod import Pod
from hitless.api.types.service import Service
from hitless.api.types.statefulset import StatefulSet
from hitless.apiserver import cli as apiserver_cli
from hitless.cli import flags
from hitless.cli.addresses import claim_addresses
from hitless.cli.errors import EXIT_CODES_HELP
from hitless.cli.imageflags import add_image_flags, image_service
from hitless.cli.logdirs import clean_stale, make_run_log_dir, remove_run_log_dir
from hitless.cli.reapply import watch_and_reapply
from hitless.clock import RealClock
from hitless.engine import Engine, EngineOptions, run_ahead_of_pods, tune_gc
from hitless.kubelet.capacity import MAX_PODS, machine_budget
from hitless.kubelet.images import ImageConfigError, ImageService
from hitless.output.jsonl import JsonlPrinter
from hitless.output.services import ServiceAnnouncer, sync_line
from hitless.output.text import TextPrinter
from hitless.proxy.records import ProxySync
from hitless.runtime.linux import LinuxRuntime, NamespacesUnavailable, enter_engine_namespaces
from hitless.supervised import raise_if_failed, stop_engine, supervise
from hitless.tasks import cancel_and_wait, spawn

EXIT_INVALID = 2
# What `hitless up` runs; saving a manifest re-applies these (cli/reapply.py).
RUNNABLE: tuple[type[K8sObject], ...] = (Pod, Service, Deployment)
RUNNABLE += (StatefulSet, DaemonSet, Job, CronJob)  # run by their controllers, as Deployments are


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hitless up",
        epilog=EXIT_CODES_HELP + "; 1 here: a pod failed; 2 also: the namespaces hitless needs are "
        "unavailable, or a Service's address is held by another process",
        description=(
            "Run the Pods of Kubernetes manifests as local processes, with the kubelet's lifecycle: "
            "each container is PID 1 of its own PID namespace inside its pod's network namespace. "
            "Stops on Ctrl-C, SIGTERM or --duration by deleting every pod gracefully (preStop, stop "
            "signal, grace period, SIGKILL); a second Ctrl-C kills at once."
        ),
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="manifest files or directories; - for stdin")
    p.add_argument("--duration", type=flags.positive_seconds, metavar="S", help="stop after S seconds")
    p.add_argument(
        "-o",
        "--output",
        choices=("text", "jsonl"),
        default="text",
        help="text: pod rows as 'kubectl get pods -w' and the Events; jsonl: every Pod and Event "
        "object as the Kubernetes API returns it, one per line (docs/jsonl.md)",
    )
    p.add_argument(
        "--nodes",
        type=flags.nodes,
        default=2,
        metavar="N",
        help=f"emulated nodes at 127.0.1.N (default 2, at most {flags.MAX_NODES})",
    )
    add_image_flags(p)
    p.add_argument(
        "--log-dir",
        metavar="DIR",
        help="keep container logs here, as /var/log/pods/<ns>_<pod>_<uid>/<container>/<n>.log "
        "(default: a temporary directory removed at exit)",
    )
    p.add_argument("--no-events", action="store_true", help="text output: pod rows only")
    p.add_argument(
        "--sync-frequency",
        type=float,
        default=None,
        metavar="S",
        help="the kubelets' sync period: an edited ConfigMap or Secret reaches mounted files "
        "S to 1.5 S later (default 60, the kubelet's --sync-frequency)",
    )
    apiserver_cli.add_arguments(p)
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.log_dir and (problem := flags.writable_dir_error("--log-dir", args.log_dir)):
        print(f"hitless: {problem}", file=sys.stderr)
        return EXIT_INVALID
    result = load(args.files, stdin=sys.stdin)
    for warning in result.warnings:
        print(warning.format(), file=sys.stderr)
    for error in result.errors:
        print(error.format(), file=sys.stderr)
    if result.errors:
        print(f"hitless: {len(result.errors)} error(s); nothing was started", file=sys.stderr)
        return EXIT_INVALID
    try:
        images = image_service(args)
    except ImageConfigError as exc:
        print(f"hitless: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if args.nodes < 1:
        print("hitless: --nodes must be at least 1", file=sys.stderr)
        return EXIT_INVALID
    if args.sync_frequency is not None and args.sync_frequency <= 0:
        print("hitless: --sync-frequency must be positive", file=sys.stderr)
        return EXIT_INVALID
    # What `kubectl apply -f` leaves: a later object of the same kind and name replaces an earlier one.
    applied = result.applied()
    # Every object goes into the store (api/kinds.py: what hitless acts on, what it only stores).
    pods = [o.obj for o in applied]
    for line in stored_lines(result):
        print(f"hitless: {line}", file=sys.stderr)
    # With --api the run is a cluster to apply to later, even if empty now.
    workloads = (Pod, Deployment, StatefulSet, DaemonSet, Job, CronJob)
    if not any(isinstance(p, workloads) for p in pods) and args.api is None:
        print("hitless: no Pods or Deployments to run", file=sys.stderr)
        return 0

    # A Service address that another process listens on (a fixed clusterIP or nodePort, or any
    # port on the wildcard address) would send the Service's traffic to that process: refuse it,
    # naming the holder (proxy/owner.py).
    args.address_prefixes, conflicts = claim_addresses(pods, args.nodes)
    for message in conflicts:
        print(f"hitless: {message}", file=sys.stderr)
    if conflicts:
        print(f"hitless: {len(conflicts)} error(s); nothing was started", file=sys.stderr)
        return EXIT_INVALID
    # A run that was SIGKILLed could not remove its log directory: the next one does (logdirs.py).
    clean_stale()
    log_dir, lock = (Path(args.log_dir), -1) if args.log_dir else make_run_log_dir()
    try:
        enter_engine_namespaces()
    except NamespacesUnavailable as exc:
        print(f"hitless: {exc}", file=sys.stderr)
        if not args.log_dir:
            remove_run_log_dir(log_dir, lock)
        return EXIT_INVALID  # nothing was judged: not a pod's failure
    try:
        return asyncio.run(_run(args, pods, images, log_dir))
    finally:
        if not args.log_dir:
            remove_run_log_dir(log_dir, lock)


async def _run(args: argparse.Namespace, pods: list[K8sObject], images: ImageService, log_dir: Path) -> int:
    clock = RealClock()
    # Every component's task reports to it; the first failure stops the run with exit 3.
    supervisor = supervise()
    engine = Engine(
        LinuxRuntime(clock),
        clock,
        EngineOptions(
            nodes=args.nodes,
            log_dir=log_dir,
            images=images,
            node_address_prefix=args.address_prefixes[0],
            load_balancer_address_prefix=args.address_prefixes[1],
        ),
    )
    if args.sync_frequency is not None:
        engine.set_sync_frequency(args.sync_frequency)
    if args.output == "jsonl":
        jsonl = JsonlPrinter(sys.stdout)
        engine.store.add_listener(jsonl)
        engine.connections.sync_listeners.append(lambda sync: jsonl.proxy_sync(sync, clock.wall_at(sync.at)))
    else:
        engine.store.add_listener(TextPrinter(clock, sys.stdout, show_events=not args.no_events))
        if not args.no_events:
            start = clock.now()

            def print_sync(sync: ProxySync) -> None:
                # A node with no frontend for the Service (a ClusterIP one on nodes other than
                # the host's) changed nothing anyone can reach.
                if sync.internal_mode or sync.external_mode:
                    print(sync_line(sync, sync.at - start), flush=True)

            engine.connections.sync_listeners.append(print_sync)
    engine.store.add_listener(ServiceAnnouncer([p.address for p in engine.proxies]))

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals_seen = 0

    def on_signal() -> None:
        nonlocal signals_seen
        signals_seen += 1
        if signals_seen == 1:
            _note("stopping: deleting every pod gracefully (again to kill at once)")
            stop.set()
        else:
            _note("killing every container now")
            engine.kill_now()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, on_signal)

    api = await apiserver_cli.start(args, engine)
    await engine.start()
    if engine.max_pods < MAX_PODS:
        budget = machine_budget()
        _note(
            f"each node takes {engine.max_pods} pods (the kubelet's maxPods {MAX_PODS}, capped by this "
            f"machine: {budget.pods} pods for {budget.limit}); more stay Pending"
        )
    tune_gc()
    run_ahead_of_pods()
    engine.apply(pods)
    reapply = spawn("reapply watcher", watch_and_reapply(args.files, engine, clock, lambda obj: True))
    node_word = "node" if args.nodes == 1 else "nodes"
    print(
        f"hitless {__version__} (Kubernetes {KUBERNETES_VERSION} semantics): "
        f"{_summary([p for p in pods if isinstance(p, RUNNABLE)])} on "
        f"{args.nodes} {node_word}; Ctrl-C to stop",
        file=sys.stderr,
        flush=True,
    )

    finished = asyncio.Event()

    def watch_finished(_: object) -> None:
        # With the API served, a run is a cluster: pods deleted or done through kubectl do not end it.
        if api is None and engine.all_pods_finished():
            finished.set()

    engine.store.add_listener(watch_finished)
    waits: list[asyncio.Future[object]] = [
        asyncio.ensure_future(stop.wait()),
        asyncio.ensure_future(finished.wait()),
        asyncio.ensure_future(supervisor.failed.wait()),
    ]
    if args.duration is not None:
        waits.append(asyncio.ensure_future(clock.sleep(args.duration)))
    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    await cancel_and_wait(reapply)
    for w in waits:
        w.cancel()
    if supervisor.failures:
        failure = supervisor.failures[0]
        _note(f"{failure.component} failed: stopping (deleting every pod gracefully)")

    code = 0
    if finished.is_set() and not stop.is_set():
        failed = [p.name for p in engine.pods() if p.status.phase == "Failed"]
        _note("every pod has finished" + (f"; failed: {', '.join(failed)}" if failed else ""))
        code = 1 if failed else 0
    await stop_engine(engine, supervisor, _note, before_stop=api.stop if api is not None else None)
    raise_if_failed(supervisor)
    if args.log_dir:
        _note(f"container logs are in {log_dir}")
    return code


def _note(text: str) -> None:
    print(f"hitless: {text}", file=sys.stderr, flush=True)


def _summary(objects: Sequence[K8sObject]) -> str:
    """'2 pod(s), 1 deployment(s), 1 service(s)': what was asked for, by kind."""
    counts: dict[str, int] = {}
    for obj in objects:
        counts[obj.kind.lower()] = counts.get(obj.kind.lower(), 0) + 1
    return ", ".join(f"{n} {kind}(s)" for kind, n in counts.items()) or "no objects yet"
