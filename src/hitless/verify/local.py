"""A local ``hitless verify`` run as a library call: the manifests on this machine's engine, the
Service loaded while a scenario runs, every failure explained.

:func:`run_local` is the run (the engine started and stopped, the load, the scenario ``repeat``
times, the attribution); :func:`verify_local` is its synchronous form, which first makes this
process the engine's, as ``hitless up`` does. Both give a :class:`~hitless.verify.result.Result`,
as a cluster run does (verify/cluster.py). Writing and printing the report is verify/emit.py's.
The CLI (cli/verify.py) only turns flags into :class:`~hitless.verify.options.VerifyOptions`,
calls, prints and picks the exit code.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hitless.api.types.meta import K8sObject
from hitless.api.types.service import Service
from hitless.clock import Clock, RealClock
from hitless.engine import Engine, EngineOptions, run_ahead_of_pods, tune_gc
from hitless.proxy.defaults import PRESETS
from hitless.runtime.linux import LinuxRuntime, enter_engine_namespaces
from hitless.supervised import raise_if_failed, stop_engine, supervise
from hitless.tasks import cancel_and_wait, spawn
from hitless.verify.attribute import RunContext, attribute
from hitless.verify.findings import findings
from hitless.verify.frontend import frontend, sample_lb, warm_up
from hitless.verify.generator import LoadGenerator, LoadOptions
from hitless.verify.observe import ObservedRuntime, TimelineRecorder
from hitless.verify.options import VerifyOptions
from hitless.verify.picking import Picked, pick
from hitless.verify.report import Report
from hitless.verify.result import Result, VerifyInputError
from hitless.verify.scenarios import (
    NEEDS_DEPLOYMENT,
    ScenarioTimeout,
    Workload,
    run_once,
    wait_settled,
)
from hitless.verify.timeline import Timeline

SETTLE_TIMEOUT = 120.0
WARM_UP_TIMEOUT = 30.0

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def plan_local(objects: Sequence[K8sObject], opts: VerifyOptions) -> Picked | str:
    """The Service and workload a local run acts on, or why there are none to verify."""
    if problems := opts.problems():
        return "; ".join(problems)
    if opts.cluster is not None:
        return "the options name a cluster: verify_cluster (verify/cluster.py) runs there"
    picked = pick(objects, opts.service, opts.workload)
    if isinstance(picked, str):
        return picked
    service, workload = picked.service, picked.workload
    if workload is not None and workload.kind == "DaemonSet":
        picked.context.desired_replicas = opts.nodes  # one pod per node (its selector permitting)
    if workload is None:
        return f'Service "{service.name}" selects no Deployment or Pod of the manifests'
    if opts.scenario in NEEDS_DEPLOYMENT and workload.deployment is None:
        return f'--scenario {opts.scenario} needs a Deployment behind Service "{service.name}"'
    if opts.scenario == "node-drain" and opts.nodes < 2:
        return "--scenario node-drain needs --nodes 2 or more"
    return picked


def verify_local(
    objects: Sequence[K8sObject], opts: VerifyOptions, *, log_dir: Path, on_progress: Progress = _quiet
) -> Result:
    """:func:`run_local` from synchronous code, as the CLI runs it.

    It first makes the rest of this program the engine, in a PID namespace of its own
    (runtime/linux/bootstrap.py: this call returns in a forked process; the original one waits
    for it and exits with its status), so call it once per program, before any thread is
    started. NamespacesUnavailable when this machine cannot; VerifyInputError before that.
    """
    problem = plan_local(objects, opts)
    if isinstance(problem, str):
        raise VerifyInputError(problem)
    enter_engine_namespaces()
    return asyncio.run(run_local(objects, opts, log_dir=log_dir, on_progress=on_progress))


@dataclass
class _Measurement:
    """What the measuring part leaves behind, also when it is cut short."""

    generator: LoadGenerator | None = None
    sampler: asyncio.Task[None] | None = None
    # Why the scenario did not run to its end.
    incomplete: str | None = None


async def run_local(
    objects: Sequence[K8sObject],
    opts: VerifyOptions,
    *,
    log_dir: Path,
    clock: Clock | None = None,
    on_progress: Progress = _quiet,
    handle_signals: bool = True,
) -> Result:
    """Run the engine with ``objects``, load the Service, run the scenario, explain every failure.

    Raises :class:`VerifyInputError` before anything starts when :func:`plan_local` finds a
    problem, and ``ComponentFailed`` (hitless/supervised.py) when a component of the run failed: no
    verdict then. With ``handle_signals`` (the main thread only), the first SIGINT, SIGTERM or
    SIGHUP stops the load and every pod gracefully and the run is reported incomplete; the next
    one kills every container at once.
    """
    picked = plan_local(objects, opts)
    if isinstance(picked, str):
        raise VerifyInputError(picked)
    assert picked.workload is not None  # plan_local's
    service, workload, context = picked.service, picked.workload, picked.context
    note = on_progress
    clock = clock or RealClock()
    # Every component's task reports to it; the first failure stops the run with exit 3.
    supervisor = supervise()
    timeline = Timeline()
    runtime = ObservedRuntime(LinuxRuntime(clock), clock, timeline)
    node_prefix, lb_prefix = opts.address_prefixes or (None, None)
    options = EngineOptions(
        nodes=opts.nodes,
        log_dir=log_dir,
        node_address_prefix=node_prefix,
        load_balancer_address_prefix=lb_prefix,
        propagation_delay=opts.propagation_delay,
        load_balancer=opts.lb_preset,
    )
    if opts.images is not None:
        options.images = opts.images
    engine = Engine(runtime, clock, options)
    engine.store.add_listener(TimelineRecorder(timeline, clock))
    await engine.start()
    tune_gc()
    run_ahead_of_pods()
    engine.apply(list(objects))
    state = _Measurement()
    body = spawn("verify", _measure(opts, engine, service, workload, context, timeline, state, note))
    signals_seen = 0

    def on_signal(signum: int) -> None:
        # As `hitless up`: the first signal stops gracefully (here: what was measured is still
        # reported), the next one kills every container at once.
        nonlocal signals_seen
        signals_seen += 1
        if signals_seen == 1 and not body.done():
            name = signal.Signals(signum).name
            note(f"{name}: stopping the load, then every pod gracefully (again to kill at once)")
            state.incomplete = f"interrupted by {name}"
            body.cancel()
        else:
            note("killing every container now")
            engine.kill_now()

    loop = asyncio.get_running_loop()
    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP) if handle_signals else ()
    for sig in handled:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        failed = asyncio.ensure_future(supervisor.failed.wait())
        try:
            await asyncio.wait([body, failed], return_when=asyncio.FIRST_COMPLETED)
            if supervisor.failures:
                note(f"{supervisor.failures[0].component} failed: stopping the load, then every pod")
        finally:
            failed.cancel()
            await cancel_and_wait(body)
            note("stopping")
            await cancel_and_wait(state.sampler)
            if state.generator is not None:
                await state.generator.cancel()
            await stop_engine(engine, supervisor, note)
        # No verdict from a run whose component failed: exit 3 (cli/errors.py).
        raise_if_failed(supervisor)
        return _judge(opts, engine, service, context, timeline, state, note)
    finally:
        # The caller's loop goes on without them (asyncio.run's closing would remove them too).
        for sig in handled:
            loop.remove_signal_handler(sig)


async def _measure(
    opts: VerifyOptions,
    engine: Engine,
    service: Service,
    workload: Workload,
    context: RunContext,
    timeline: Timeline,
    state: _Measurement,
    note: Progress,
) -> None:
    """Wait until the Service serves, load it, run the scenario ``repeat`` times, drain."""
    clock = engine.clock
    try:
        kind, name = context.workload or ("", "")
        note(f"starting {kind} {name}; waiting for Service {service.name} to be ready")
        await wait_settled(engine, workload, SETTLE_TIMEOUT, note=note)
        host, port = await frontend(engine, service, SETTLE_TIMEOUT)
        if service.spec.type == "LoadBalancer":
            state.sampler = spawn("verify load-balancer sampler", sample_lb(engine, service, timeline))
        if not await warm_up(engine, workload, host, port, opts.path, opts.timeout, WARM_UP_TIMEOUT):
            note(f"not every pod answered within {WARM_UP_TIMEOUT:.0f} s; loading anyway")
        note(f"{opts.rps:.0f} requests/s to {host}:{port}{opts.path} ({opts.connections})")
        generator = state.generator = LoadGenerator(
            LoadOptions(
                host=host,
                port=port,
                rate=opts.rps,
                path=opts.path,
                connections=opts.connections,
                timeout=opts.timeout,
            ),
            clock,
        )
        runner = spawn("verify load generator", generator.run())
        body = asyncio.current_task()
        # A generator that cannot keep the rate stops itself: the scenario stops with it, and
        # nothing is judged (_judge).
        runner.add_done_callback(lambda _: body.cancel() if generator.overload and body else None)
        try:
            await asyncio.sleep(1.0)
            for i in range(opts.repeat):
                timeline.marks.append((clock.now(), f"{opts.scenario} {i + 1}"))
                last = i == opts.repeat - 1
                what = await run_once(engine, workload, opts.scenario, SETTLE_TIMEOUT, last, note=note)
                note(f"{i + 1}/{opts.repeat}: {what}: settled; {len(generator.results)} requests so far")
                # The steady state after the scenario is part of what is measured.
                await asyncio.sleep(1.0)
        finally:
            generator.stop()
            await runner
        await generator.drain(opts.timeout + 1)
    except (ScenarioTimeout, ValueError) as exc:
        note(str(exc))
        state.incomplete = str(exc)


def _judge(
    opts: VerifyOptions,
    engine: Engine,
    service: Service,
    context: RunContext,
    timeline: Timeline,
    state: _Measurement,
    note: Progress,
) -> Result:
    """The report of a run that stopped with every component healthy."""
    generator = state.generator
    if generator is None:
        return Result(None, incomplete=state.incomplete)
    if generator.overload is not None:
        # This machine's limit, not the workload's failure: no verdict.
        return Result(None, state.incomplete, overload=generator.overload, sent=len(generator.results))
    sent = len(generator.results)
    # Requests that hitless itself cut (the run was stopped) say nothing about the workload.
    cut = [r for r in generator.results if r.status is None and r.error is None]
    if cut:
        generator.results = [r for r in generator.results if r.status is not None or r.error is not None]
        note(f"{len(cut)} requests in flight when the run was stopped are not counted")
    note(f"stopped; explaining {len(generator.results)} requests")
    timeline.apply_syncs(engine.connections.syncs, context.service)
    if service.spec.type == "LoadBalancer":
        preset = PRESETS[opts.lb_preset]
        check = preset.local if service.spec.external_traffic_policy == "Local" else preset.cluster
        context.lb_detection = check.interval * check.unhealthy_threshold
    attribution = attribute(generator.results, engine.connections.records, timeline, context)
    report = Report(
        generator.results,
        attribution,
        findings(attribution.failures, timeline, context),
        timeline,
        generator.started or engine.clock.now(),
        opts.max_failures,
        run={
            "files": list(opts.files),
            "service": context.service,
            "scenario": opts.scenario,
            "repeat": opts.repeat,
            "rps": opts.rps,
            "connections": opts.connections,
            "nodes": opts.nodes,
            "lbPreset": opts.lb_preset,
        },
        incomplete=state.incomplete,
    )
    return Result(report, state.incomplete, sent=sent)
