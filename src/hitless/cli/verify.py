"""``hitless verify FILE...``: run the workload, load its Service, run a scenario, explain every failure.

Input is checked before anything starts (exit 2). Then the engine runs in its own PID namespace,
as for ``hitless up``, with an observed runtime feeding the pod timeline. Exit 0 when at most
``--max-failures`` requests failed, 1 when more (or the workload never became ready), 2 on bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from hitless.api import load
from hitless.api.loader import LoadedObject
from hitless.api.types.apps import Deployment
from hitless.api.types.daemonset import DaemonSet
from hitless.api.types.meta import K8sObject
from hitless.api.types.pod import Pod
from hitless.api.types.service import Service
from hitless.api.types.statefulset import StatefulSet
from hitless.cli import flags
from hitless.cli.addresses import claim_addresses
from hitless.cli.errors import EXIT_CODES_HELP
from hitless.cli.imageflags import add_image_flags, image_service
from hitless.cli.logdirs import clean_stale, make_run_log_dir, remove_run_log_dir
from hitless.cli.supervised import raise_if_failed, stop_engine, supervise
from hitless.clock import RealClock
from hitless.engine import Engine, EngineOptions, run_ahead_of_pods, tune_gc
from hitless.kubelet.images import ImageConfigError
from hitless.proxy.defaults import PRESETS
from hitless.runtime.linux import LinuxRuntime, NamespacesUnavailable, enter_engine_namespaces
from hitless.tasks import cancel_and_wait, spawn
from hitless.verify import workloads as verify_workloads
from hitless.verify.attribute import RunContext, attribute
from hitless.verify.findings import findings
from hitless.verify.frontend import frontend, sample_lb, warm_up
from hitless.verify.generator import LoadGenerator, LoadOptions
from hitless.verify.html import render_html
from hitless.verify.observe import ObservedRuntime, TimelineRecorder
from hitless.verify.report import Report
from hitless.verify.scenarios import (
    NEEDS_DEPLOYMENT,
    SCENARIOS,
    ScenarioTimeout,
    Workload,
    run_once,
    wait_settled,
)
from hitless.verify.sources import locate
from hitless.verify.timeline import Timeline

EXIT_FAILED = 1
EXIT_INVALID = 2
SETTLE_TIMEOUT = 120.0
WARM_UP_TIMEOUT = 30.0


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
    p.add_argument("--kubeconfig", metavar="PATH", help="verify on the cluster this kubeconfig names")
    p.add_argument("--context", metavar="NAME", help="with --kubeconfig: the kubeconfig context to use")
    p.add_argument(
        "--namespace",
        metavar="NS",
        help="with --kubeconfig: an existing namespace instead of a throwaway one",
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


def _flag_errors(args: argparse.Namespace) -> list[str]:
    """The flags' values argparse cannot judge, each named with what it got."""
    errors = []
    for flag, value, ok, want in [
        ("--rps", args.rps, 0 < args.rps < math.inf, "a finite number greater than 0"),
        # The maxima and their reasons: cli/flags.py, docs/reliability.md.
        ("--rps", args.rps, not args.rps > flags.MAX_RPS, f"at most {flags.MAX_RPS:g}"),
        ("--timeout", args.timeout, 0 < args.timeout < math.inf, "a finite number greater than 0"),
        ("--repeat", args.repeat, args.repeat >= 1, "at least 1"),
        ("--nodes", args.nodes, args.nodes >= 1, "at least 1"),
        ("--nodes", args.nodes, args.nodes <= flags.MAX_NODES, f"at most {flags.MAX_NODES}"),
        ("--max-failures", args.max_failures, args.max_failures >= 0, "0 or more"),
        (
            "--propagation-delay",
            args.propagation_delay,
            args.propagation_delay is None or 0 <= args.propagation_delay < math.inf,
            "0 or more",
        ),
    ]:
        if not ok:
            errors.append(f"{flag} must be {want} (got {value:g})")
    if not args.path.startswith("/"):
        errors.append(f"--path must start with / (got {args.path!r})")
    if args.lb_preset not in PRESETS:
        errors.append(f"unknown --lb-preset {args.lb_preset!r} (known: {', '.join(PRESETS)})")
    return errors


def _report_dir_error(name: str) -> str | None:
    """Create DIR and make sure it takes files now, not after a whole run."""
    return flags.writable_dir_error("--report", name)


def _pick_service(objects: list[K8sObject], name: str | None) -> Service | str:
    """The Service to load, or why there is none."""
    services = [o for o in objects if isinstance(o, Service)]
    names = ", ".join(s.name for s in services)
    if name is not None:
        named = [s for s in services if s.name == name]
        if not named:
            known = f" (the manifests have: {names})" if services else " (the manifests have none)"
            return f'services "{name}" not found{known}'
        services = named
    if not services:
        return "no Service to load in the manifests (hitless verify sends its load through a Service)"
    if len(services) > 1:
        return f"{len(services)} Services in the manifests ({names}): name the one to load with --service"
    service = services[0]
    kind = service.spec.type or "ClusterIP"
    if kind == "ExternalName":
        return f'Service "{service.name}" is of type ExternalName: it has no endpoints to load'
    if service.spec.cluster_ip == "None":
        return f'Service "{service.name}" is headless (clusterIP: None): it has no virtual IP to load'
    ports = service.spec.ports or []
    if not ports or (ports[0].protocol or "TCP") != "TCP":
        return f'Service "{service.name}": its first port must be TCP (the load is HTTP)'
    return service


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    flag_errors = _flag_errors(args)
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
    picked = _pick_service(objects, args.service)
    if isinstance(picked, str):
        return _error(picked)
    service = picked
    workload, context = _workload(service, objects, args.workload)
    if isinstance(workload, str):
        return _error(workload)
    if args.kubeconfig is not None:
        return _cluster(args, service, context, result.applied())
    for flag, value in (
        ("--context", args.context),
        ("--namespace", args.namespace),
        ("--load-from", args.load_from),
        ("--agent-image", args.agent_image),
    ):
        if value is not None:
            return _error(f"{flag} is for a cluster: it needs --kubeconfig")
    if workload is not None and workload.kind == "DaemonSet":
        context.desired_replicas = args.nodes  # one pod per node (its selector permitting)
    if workload is None:
        return _error(f'Service "{service.name}" selects no Deployment or Pod of the manifests')
    if args.scenario in NEEDS_DEPLOYMENT and workload.deployment is None:
        return _error(f'--scenario {args.scenario} needs a Deployment behind Service "{service.name}"')
    if args.scenario == "node-drain" and args.nodes < 2:
        return _error("--scenario node-drain needs --nodes 2 or more")
    if args.report and (problem := _report_dir_error(args.report)):
        return _error(problem)
    try:
        args.image_service = image_service(args)
    except ImageConfigError as exc:
        return _error(str(exc))
    # A Service address that another process listens on (a fixed clusterIP or nodePort, or any
    # port on the wildcard address) would send the load to that process: refuse it, naming the
    # holder (proxy/owner.py).
    args.address_prefixes, conflicts = claim_addresses(objects, args.nodes)
    for message in conflicts:
        _error(message)
    if conflicts:
        return _error(f"{len(conflicts)} error(s); nothing was started")
    # A run that was SIGKILLed could not remove its log directory: the next one does (logdirs.py).
    clean_stale()
    log_dir, lock = make_run_log_dir()
    try:
        enter_engine_namespaces()
    except NamespacesUnavailable as exc:
        print(f"hitless verify: {exc}", file=sys.stderr)
        remove_run_log_dir(log_dir, lock)
        return EXIT_INVALID  # nothing was judged: not the workload's failure
    try:
        code, report = asyncio.run(_run(args, objects, service, workload, context, log_dir))
        return _emit(args, code, report, result.applied())
    finally:
        remove_run_log_dir(log_dir, lock)


def _cluster(
    args: argparse.Namespace, service: Service, context: RunContext, loaded: list[LoadedObject]
) -> int:
    from hitless.verify import cluster
    from hitless.verify.cluster_steps import ClusterOptions

    if context.workload is None or context.workload[0] != "Deployment":
        return _error("--kubeconfig: cluster mode runs the rollout scenario of a Deployment only (for now)")
    if args.scenario != "rollout":
        return _error(f"--kubeconfig: --scenario {args.scenario} is not implemented in cluster mode yet")
    if args.report and (problem := _report_dir_error(args.report)):
        return _error(problem)
    opts = ClusterOptions(
        args.kubeconfig,
        args.context,
        args.namespace,
        path=args.path,
        rps=args.rps,
        connections=args.connections,
        repeat=args.repeat,
        timeout=args.timeout,
        max_failures=args.max_failures,
        load_from=args.load_from or "auto",
        agent_image=args.agent_image,
    )
    return cluster.main(opts, loaded, service, context.workload[1], args.format, args.report)


def _workload(
    service: Service, objects: list[K8sObject], wanted: str | None = None
) -> tuple[Workload | str | None, RunContext]:
    selector = service.spec.selector or {}
    ns = service.namespace or "default"

    def selects(pod: Pod) -> bool:
        labels = pod.metadata.labels or {}
        return (
            bool(selector)
            and (pod.namespace or "default") == ns
            and all(labels.get(k) == v for k, v in selector.items())
        )

    context = RunContext(
        service=f"{ns}/{service.name}",
        external_traffic_policy=service.spec.external_traffic_policy,
        publish_not_ready_addresses=bool(service.spec.publish_not_ready_addresses),
    )
    for obj in objects:
        if _other_workload(obj, selector, wanted, context) is not None:
            return Workload(ns, obj.name, selects, kind=obj.kind), context
        if wanted is not None and not _is_wanted(obj, wanted):
            continue
        if isinstance(obj, Deployment):
            labels = obj.spec.template.metadata.labels if obj.spec.template.metadata else None
            if selector and all((labels or {}).get(k) == v for k, v in selector.items()):
                context.workload = ("Deployment", obj.name)
                context.strategy = obj.spec.strategy.type or "RollingUpdate"
                context.desired_replicas = obj.spec.replicas if obj.spec.replicas is not None else 1
                return Workload(ns, obj.name, selects), context
    if wanted is not None:
        problem = f'--workload {wanted}: no such Deployment, StatefulSet or DaemonSet behind "{service.name}"'
        return problem, context
    pods = [o for o in objects if isinstance(o, Pod) and selects(o)]
    if pods:
        context.workload = ("Pod", pods[0].name)
        context.desired_replicas = len(pods)
        return Workload(ns, None, selects), context
    return None, context


def _is_wanted(obj: K8sObject, wanted: str) -> bool:
    kind, _, name = wanted.partition("/")
    return obj.kind.lower() == kind.lower().removesuffix(".apps") and obj.name == name


def _other_workload(
    obj: K8sObject, selector: dict[str, str], wanted: str | None, context: RunContext
) -> K8sObject | None:
    """A StatefulSet or DaemonSet whose pods the Service selects (and --workload names, if given)."""
    labels = verify_workloads.template_labels(obj)
    if labels is None or not selector or any(labels.get(k) != v for k, v in selector.items()):
        return None
    if wanted is not None and not _is_wanted(obj, wanted):
        return None
    assert isinstance(obj, StatefulSet | DaemonSet)
    context.workload = (obj.kind, obj.name)
    context.strategy = obj.spec.update_strategy.type or "RollingUpdate"
    replicas = obj.spec.replicas if isinstance(obj, StatefulSet) else None
    context.desired_replicas = replicas if replicas is not None else 1
    return obj


_STARTED = time.monotonic()


def _note(text: str) -> None:
    print(f"hitless verify: [{time.monotonic() - _STARTED:5.1f} s] {text}", file=sys.stderr, flush=True)


@dataclass
class _Measurement:
    """What the measuring part leaves behind, also when it is cut short."""

    generator: LoadGenerator | None = None
    sampler: asyncio.Task[None] | None = None
    # Why the scenario did not run to its end.
    incomplete: str | None = None


async def _measure(
    args: argparse.Namespace,
    engine: Engine,
    service: Service,
    workload: Workload,
    context: RunContext,
    timeline: Timeline,
    state: _Measurement,
) -> None:
    """Wait until the Service serves, load it, run the scenario ``--repeat`` times, drain."""
    clock = engine.clock
    try:
        kind, name = context.workload or ("", "")
        _note(f"starting {kind} {name}; waiting for Service {service.name} to be ready")
        await wait_settled(engine, workload, SETTLE_TIMEOUT, note=_note)
        host, port = await frontend(engine, service, SETTLE_TIMEOUT)
        if service.spec.type == "LoadBalancer":
            state.sampler = spawn("verify load-balancer sampler", sample_lb(engine, service, timeline))
        if not await warm_up(engine, workload, host, port, args.path, args.timeout, WARM_UP_TIMEOUT):
            _note(f"not every pod answered within {WARM_UP_TIMEOUT:.0f} s; loading anyway")
        _note(f"{args.rps:.0f} requests/s to {host}:{port}{args.path} ({args.connections})")
        generator = state.generator = LoadGenerator(
            LoadOptions(
                host=host,
                port=port,
                rate=args.rps,
                path=args.path,
                connections=args.connections,
                timeout=args.timeout,
            ),
            clock,
        )
        runner = spawn("verify load generator", generator.run())
        body = asyncio.current_task()
        # A generator that cannot keep the rate stops itself: the scenario stops with it, and
        # nothing is judged (_run).
        runner.add_done_callback(lambda _: body.cancel() if generator.overload and body else None)
        try:
            await asyncio.sleep(1.0)
            for i in range(args.repeat):
                timeline.marks.append((clock.now(), f"{args.scenario} {i + 1}"))
                last = i == args.repeat - 1
                what = await run_once(engine, workload, args.scenario, SETTLE_TIMEOUT, last, note=_note)
                _note(f"{i + 1}/{args.repeat}: {what}: settled; {len(generator.results)} requests so far")
                # The steady state after the scenario is part of what is measured.
                await asyncio.sleep(1.0)
        finally:
            generator.stop()
            await runner
        await generator.drain(args.timeout + 1)
    except (ScenarioTimeout, ValueError) as exc:
        _note(str(exc))
        state.incomplete = str(exc)


async def _run(
    args: argparse.Namespace,
    objects: list[K8sObject],
    service: Service,
    workload: Workload,
    context: RunContext,
    log_dir: Path,
) -> tuple[int, Report | None]:
    clock = RealClock()
    # Every component's task reports to it; the first failure stops the run with exit 3.
    supervisor = supervise()
    timeline = Timeline()
    runtime = ObservedRuntime(LinuxRuntime(clock), clock, timeline)
    options = EngineOptions(
        nodes=args.nodes,
        log_dir=log_dir,
        node_address_prefix=args.address_prefixes[0],
        load_balancer_address_prefix=args.address_prefixes[1],
        propagation_delay=args.propagation_delay,
        load_balancer=args.lb_preset,
        images=args.image_service,
    )
    engine = Engine(runtime, clock, options)
    engine.store.add_listener(TimelineRecorder(timeline, clock))
    await engine.start()
    tune_gc()
    run_ahead_of_pods()
    engine.apply(objects)
    state = _Measurement()
    body = spawn("verify", _measure(args, engine, service, workload, context, timeline, state))
    signals_seen = 0

    def on_signal(signum: int) -> None:
        # As `hitless up`: the first signal stops gracefully (here: what was measured is still
        # reported), the next one kills every container at once.
        nonlocal signals_seen
        signals_seen += 1
        if signals_seen == 1 and not body.done():
            name = signal.Signals(signum).name
            _note(f"{name}: stopping the load, then every pod gracefully (again to kill at once)")
            state.incomplete = f"interrupted by {name}"
            body.cancel()
        else:
            _note("killing every container now")
            engine.kill_now()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, on_signal, sig)
    failed = asyncio.ensure_future(supervisor.failed.wait())
    try:
        await asyncio.wait([body, failed], return_when=asyncio.FIRST_COMPLETED)
        if supervisor.failures:
            _note(f"{supervisor.failures[0].component} failed: stopping the load, then every pod")
    finally:
        failed.cancel()
        await cancel_and_wait(body)
        _note("stopping")
        await cancel_and_wait(state.sampler)
        if state.generator is not None:
            await state.generator.cancel()
        await stop_engine(engine, supervisor, _note)
    # No verdict from a run whose component failed: exit 3 (cli/errors.py).
    raise_if_failed(supervisor)
    generator = state.generator
    if generator is None:
        return EXIT_FAILED, None
    if generator.overload is not None:
        # This machine's limit, not the workload's failure: no verdict.
        _error(
            f"the load generator could not keep up: {generator.overload}; nothing was judged "
            f"(lower --rps; {len(generator.results)} requests were sent)"
        )
        return EXIT_INVALID, None
    # Requests that hitless itself cut (the run was stopped) say nothing about the workload.
    cut = [r for r in generator.results if r.status is None and r.error is None]
    if cut:
        generator.results = [r for r in generator.results if r.status is not None or r.error is not None]
        _note(f"{len(cut)} requests in flight when the run was stopped are not counted")
    _note(f"stopped; explaining {len(generator.results)} requests")
    timeline.apply_syncs(engine.connections.syncs, context.service)
    if service.spec.type == "LoadBalancer":
        preset = PRESETS[args.lb_preset]
        check = preset.local if service.spec.external_traffic_policy == "Local" else preset.cluster
        context.lb_detection = check.interval * check.unhealthy_threshold
    attribution = attribute(generator.results, engine.connections.records, timeline, context)
    report = Report(
        generator.results,
        attribution,
        findings(attribution.failures, timeline, context),
        timeline,
        generator.started or clock.now(),
        args.max_failures,
        run={
            "files": list(args.files),
            "service": context.service,
            "scenario": args.scenario,
            "repeat": args.repeat,
            "rps": args.rps,
            "connections": args.connections,
            "nodes": args.nodes,
            "lbPreset": args.lb_preset,
        },
        incomplete=state.incomplete,
    )
    return (EXIT_FAILED if state.incomplete else 0), report


def _emit(args: argparse.Namespace, code: int, report: Report | None, loaded: list[LoadedObject]) -> int:
    if report is None:
        return code or EXIT_FAILED
    document = report.to_json()
    locate(document["findings"], loaded)
    if args.report:
        out = Path(args.report)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(document, indent=2) + "\n")
        (out / "report.html").write_text(render_html(document), encoding="utf-8")
        from hitless.verify.picture import write_png

        write_png(report, out / "timeline.png")
    if args.format == "json":
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    elif args.format == "junit":
        sys.stdout.write(report.junit())
    else:
        sys.stdout.write(report.text())
    if code != 0:
        return EXIT_FAILED
    return 0 if report.passed else EXIT_FAILED
