"""``hitless verify FILE...``: run the workload, load its Service, run a scenario, explain every failure.

Input is checked before anything starts (exit 2). Then the engine runs in its own PID namespace,
as for ``hitless up``, with an observed runtime feeding the pod timeline. Exit 0 when at most
``--max-failures`` requests failed, 1 when more (or the workload never became ready), 2 on bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from hitless.api import load
from hitless.api.types.apps import Deployment
from hitless.api.types.meta import K8sObject
from hitless.api.types.pod import Pod
from hitless.api.types.service import Service
from hitless.clock import RealClock
from hitless.engine import Engine, EngineOptions, tune_gc
from hitless.proxy.loadbalancer import PRESETS
from hitless.runtime.linux import LinuxRuntime, NamespacesUnavailable, enter_engine_namespaces
from hitless.verify.attribute import RunContext, attribute, join
from hitless.verify.findings import findings
from hitless.verify.generator import LoadGenerator, LoadOptions
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
from hitless.verify.timeline import Timeline

EXIT_FAILED = 1
EXIT_INVALID = 2
SETTLE_TIMEOUT = 120.0
WARM_UP_TIMEOUT = 30.0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hitless verify",
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
    p.add_argument("--report", metavar="DIR", help="write DIR/report.json and DIR/timeline.png")
    p.add_argument("--format", choices=("text", "json", "junit"), default="text")
    return p


def _error(message: str) -> int:
    print(f"hitless verify: {message}", file=sys.stderr)
    return EXIT_INVALID


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.rps <= 0 or args.repeat < 1 or args.nodes < 1 or args.max_failures < 0 or args.timeout <= 0:
        return _error("--rps, --timeout must be positive; --repeat, --nodes at least 1; --max-failures ≥ 0")
    if args.lb_preset not in PRESETS:
        return _error(f"unknown --lb-preset {args.lb_preset!r} (known: {', '.join(PRESETS)})")
    result = load(args.files, stdin=sys.stdin)
    for error in result.errors:
        print(error.format(), file=sys.stderr)
    if result.errors:
        return _error(f"{len(result.errors)} error(s); nothing was started")
    objects = [o.obj for o in result.applied()]
    services = [o for o in objects if isinstance(o, Service)]
    if args.service:
        services = [s for s in services if s.name == args.service]
    if len(services) != 1:
        return _error(
            "name the Service with --service" if services else "no Service to load in the manifests"
        )
    service = services[0]
    workload, context = _workload(service, objects)
    if workload is None:
        return _error(f"Service {service.name!r} selects no Deployment or Pod of the manifests")
    if args.scenario in NEEDS_DEPLOYMENT and workload.deployment is None:
        return _error(f"--scenario {args.scenario} needs a Deployment behind Service {service.name!r}")
    if args.scenario == "node-drain" and args.nodes < 2:
        return _error("--scenario node-drain needs --nodes 2 or more")
    log_dir = Path(tempfile.mkdtemp(prefix="hitless-logs-"))
    try:
        enter_engine_namespaces()
    except NamespacesUnavailable as exc:
        print(f"hitless verify: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        code, report = asyncio.run(_run(args, objects, service, workload, context, log_dir))
        return _emit(args, code, report)
    finally:
        shutil.rmtree(log_dir, ignore_errors=True)


def _workload(service: Service, objects: list[K8sObject]) -> tuple[Workload | None, RunContext]:
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
        if isinstance(obj, Deployment):
            labels = obj.spec.template.metadata.labels if obj.spec.template.metadata else None
            if selector and all((labels or {}).get(k) == v for k, v in selector.items()):
                context.workload = ("Deployment", obj.name)
                context.strategy = obj.spec.strategy.type or "RollingUpdate"
                context.desired_replicas = obj.spec.replicas if obj.spec.replicas is not None else 1
                return Workload(ns, obj.name, selects), context
    pods = [o for o in objects if isinstance(o, Pod) and selects(o)]
    if pods:
        context.workload = ("Pod", pods[0].name)
        context.desired_replicas = len(pods)
        return Workload(ns, None, selects), context
    return None, context


_STARTED = time.monotonic()


def _note(text: str) -> None:
    print(f"hitless verify: [{time.monotonic() - _STARTED:5.1f} s] {text}", file=sys.stderr, flush=True)


async def _run(
    args: argparse.Namespace,
    objects: list[K8sObject],
    service: Service,
    workload: Workload,
    context: RunContext,
    log_dir: Path,
) -> tuple[int, Report | None]:
    clock = RealClock()
    timeline = Timeline()
    runtime = ObservedRuntime(LinuxRuntime(clock), clock, timeline)
    options = EngineOptions(
        nodes=args.nodes,
        log_dir=log_dir,
        propagation_delay=args.propagation_delay,
        load_balancer=args.lb_preset,
    )
    engine = Engine(runtime, clock, options)
    engine.store.add_listener(TimelineRecorder(timeline, clock))
    await engine.start()
    tune_gc()
    engine.apply(objects)
    generator: LoadGenerator | None = None
    sampler: asyncio.Future[None] | None = None
    code = EXIT_FAILED
    try:
        kind, name = context.workload or ("", "")
        _note(f"starting {kind} {name}; waiting for Service {service.name} to be ready")
        await wait_settled(engine, workload, SETTLE_TIMEOUT)
        host, port = await _frontend(engine, service, SETTLE_TIMEOUT)
        context.pods = None
        if service.spec.type == "LoadBalancer":
            sampler = asyncio.ensure_future(_sample_lb(engine, service, timeline))
        if not await _warm_up(engine, workload, host, port, args.path, args.timeout, WARM_UP_TIMEOUT):
            _note(f"not every pod answered within {WARM_UP_TIMEOUT:.0f} s; loading anyway")
        _note(f"{args.rps:.0f} requests/s to {host}:{port}{args.path} ({args.connections})")
        generator = LoadGenerator(
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
        runner = asyncio.ensure_future(generator.run())
        await asyncio.sleep(1.0)
        for i in range(args.repeat):
            timeline.marks.append((clock.now(), f"{args.scenario} {i + 1}"))
            last = i == args.repeat - 1
            what = await run_once(engine, workload, args.scenario, SETTLE_TIMEOUT, last)
            _note(f"{i + 1}/{args.repeat}: {what}: settled; {len(generator.results)} requests so far")
            # The steady state after the scenario is part of what is measured.
            await asyncio.sleep(1.0)
        generator.stop()
        await runner
        await generator.drain(args.timeout + 1)
        code = 0
    except (ScenarioTimeout, ValueError) as exc:
        _note(str(exc))
        if generator is not None:
            await generator.cancel()
    finally:
        _note("stopping")
        if sampler is not None:
            sampler.cancel()
        await engine.delete_all_pods()
        await engine.stop()
    if generator is None:
        return EXIT_FAILED, None
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
            "completed": code == 0,
        },
    )
    return code, report


def _emit(args: argparse.Namespace, code: int, report: Report | None) -> int:
    if report is None:
        return EXIT_FAILED
    if args.report:
        out = Path(args.report)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(report.to_json(), indent=2) + "\n")
        from hitless.verify.picture import write_png

        write_png(report, out / "timeline.png")
    if args.format == "json":
        sys.stdout.write(json.dumps(report.to_json(), indent=2) + "\n")
    elif args.format == "junit":
        sys.stdout.write(report.junit())
    else:
        sys.stdout.write(report.text())
    if code != 0:
        return EXIT_FAILED
    return 0 if report.passed else EXIT_FAILED


async def _frontend(engine: Engine, service: Service, timeout: float) -> tuple[str, int]:
    """Where the load goes: the load balancer for a LoadBalancer Service, else the ClusterIP."""
    deadline = engine.clock.now() + timeout
    ns = service.namespace or "default"
    port = (service.spec.ports or [])[0].port
    while True:
        current = engine.store.get("Service", ns, service.name)
        if isinstance(current, Service):
            if service.spec.type == "LoadBalancer":
                ingress = current.status.load_balancer.ingress if current.status.load_balancer else None
                if ingress and ingress[0].ip and engine.load_balancer.healthy_nodes((ns, service.name)):
                    ports = ingress[0].ports
                    return ingress[0].ip, ports[0].port if ports else port
            elif (
                current.spec.cluster_ip and current.spec.cluster_ip != "None" and _synced(engine, ns, service)
            ):
                return current.spec.cluster_ip, port
        if engine.clock.now() > deadline:
            raise ScenarioTimeout(f"Service {service.name} got no address within {timeout:.0f} s")
        await asyncio.sleep(0.05)


def _synced(engine: Engine, namespace: str, service: Service) -> bool:
    """node-1's proxy (which serves the host's ClusterIP traffic) routes to some endpoint."""
    key = f"{namespace}/{service.name}"
    return any(s.service == key and s.node == "node-1" and s.used for s in engine.connections.syncs)


async def _warm_up(
    engine: Engine,
    workload: Workload,
    host: str,
    port: int,
    path: str,
    request_timeout: float,
    timeout: float,
) -> bool:
    """Wait until every Ready pod of the Service has answered once through it.

    Ready is not "listening" (no readiness probe, or one on another port): the measured load
    starts from a Service that really serves, so that what fails is the scenario's doing. A few
    requests a second on fresh connections, not counted; the pod that answered each one is read
    from the hops' records, as for the load itself.
    """
    probe = LoadGenerator(
        LoadOptions(host=host, port=port, rate=20, path=path, connections="close", timeout=request_timeout),
        engine.clock,
    )
    runner = asyncio.ensure_future(probe.run())
    deadline = engine.clock.now() + timeout
    try:
        while engine.clock.now() < deadline:
            await asyncio.sleep(0.1)
            want = {
                f"{p.namespace}/{p.name}"
                for p in engine.store.pods()
                if workload.selects(p) and p.is_ready() and p.metadata.deletion_timestamp is None
            }
            done = [r for r in probe.results if r.done is not None and not r.failed]
            served = {route.pod for route in join(done, engine.connections.records)}
            if want and want <= served:
                return True
        return False
    finally:
        probe.stop()
        await runner
        await probe.cancel()


async def _sample_lb(engine: Engine, service: Service, timeline: Timeline) -> None:
    """The load balancer's healthy nodes over time (it keeps no history of its own)."""
    key = (service.namespace or "default", service.name)
    while True:
        timeline.note_lb_health(engine.clock.now(), frozenset(engine.load_balancer.healthy_nodes(key)))
        await asyncio.sleep(0.05)
