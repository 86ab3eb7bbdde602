"""``hitless agent load``: the in-cluster load agent of ``hitless verify --kubeconfig``.

The runner (verify/agent.py) starts it as a bare Pod in the run's namespace when the Service
answers only from inside the cluster. It warms up (fresh connections until every pod named by
``--warm-up-pods`` answered once), prints ``ready``, then runs the same open-loop load generator
as local verify (verify/generator.py) against ``--target`` and prints one JSON line per finished
request (verify/agentwire.py). With ``--namespace`` it first lists and then watches the view's
Pods, EndpointSlices and Events (verify/agentwatch.py, the runner's own watch code) with the pod's
in-cluster config and prints each event, on the same clock as its requests; watches it cannot run
are said (``watch-error``) and the load goes on. SIGTERM (the runner deletes the pod) stops it:
nothing more is sent, the requests in flight get up to ``--timeout`` to finish, the watch gaps and
an ``end`` line are printed and it exits 0. It keeps no request once printed, so its memory does
not grow with the run.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import math
import signal
import sys
import time

import aiohttp

from hitless.clock import Clock, RealClock
from hitless.kube.client import JSON, SHORT_WATCH_BACKOFF, ApiError, EventHandler, KubeClient, Reflector
from hitless.kube.config import load_incluster
from hitless.tasks import cancel_and_wait, spawn
from hitless.verify.agentwatch import view_reflectors
from hitless.verify.agentwire import boot_id, encode, encode_watch
from hitless.verify.generator import LoadGenerator, LoadOptions, RequestResult

WARM_UP_RPS = 20
# The printed requests are dropped from the generator's list each time this many more finished.
TRIM_EVERY = 1024


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hitless agent",
        description="The in-cluster side of 'hitless verify --kubeconfig' (started by it in a Pod).",
    )
    sub = p.add_subparsers(dest="command", required=True)
    load = sub.add_parser(
        "load",
        help="open-loop load against HOST:PORT, one JSON line per finished request on stdout",
        description="Warm up, print 'ready', then send --rps requests per second to --target until "
        "SIGTERM; one JSON line per finished request on stdout (docs/verify.md).",
    )
    load.add_argument("--target", required=True, metavar="HOST:PORT", help="the Service's ClusterIP and port")
    load.add_argument("--rps", type=float, required=True, metavar="N")
    load.add_argument("--path", default="/")
    load.add_argument("--connections", choices=("keepalive", "close", "mixed"), default="keepalive")
    load.add_argument("--timeout", type=float, default=3.0, metavar="S", help="per-request timeout")
    load.add_argument(
        "--warm-up-pods",
        default="",
        metavar="POD,...",
        help="before the load: fresh connections until each of these pods answered once",
    )
    load.add_argument("--warm-up-timeout", type=float, default=30.0, metavar="S")
    watch = load.add_argument_group(
        "watches",
        "with --namespace: list+watch the workload's Pods, the Service's EndpointSlices and the "
        "namespace's Events with the pod's in-cluster config, one JSON line per event",
    )
    watch.add_argument("--namespace", metavar="NS", help="the run's namespace")
    watch.add_argument("--selector", default="", metavar="K=V,...", help="the Service's selector")
    watch.add_argument("--service", default="", metavar="NAME", help="the Service (its EndpointSlices)")
    watch.add_argument("--watch-timeout", type=float, default=30.0, metavar="S", help="for the first lists")
    return p


def _target(value: str) -> tuple[str, int] | None:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host.strip("[]"), int(port)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    target = _target(args.target)
    if target is None:
        print(f"hitless agent: --target must be HOST:PORT (got {args.target!r})", file=sys.stderr)
        return 2
    if not 0 < args.rps < math.inf or not 0 < args.timeout < math.inf:
        print("hitless agent: --rps and --timeout must be finite numbers greater than 0", file=sys.stderr)
        return 2
    if isinstance(sys.stdout, io.TextIOWrapper):
        # stdout is the container's log, which the runner follows: a line must leave when written.
        sys.stdout.reconfigure(line_buffering=True)
    return asyncio.run(_run(args, *target))


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")


def _json(**fields: object) -> str:
    import json

    return json.dumps(fields, separators=(",", ":"))


async def _run(args: argparse.Namespace, host: str, port: int) -> int:
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    clock = RealClock()
    watches = Watches(args, clock)
    try:
        if args.namespace:
            await watches.start(stopping)
        return await _load(args, host, port, clock, stopping, watches)
    finally:
        await watches.stop()


async def _load(
    args: argparse.Namespace,
    host: str,
    port: int,
    clock: RealClock,
    stopping: asyncio.Event,
    watches: Watches,
) -> int:
    wanted = {p for p in args.warm_up_pods.split(",") if p}
    if wanted:
        problem = await _warm_up(args, host, port, wanted, clock, stopping)
        if problem is not None:
            _say(_json(type="error", message=problem))
            return 1
    if stopping.is_set():
        watches.say_gaps()
        _say(_json(type="end", requests=0, overload=None))
        return 0
    printed = 0

    def emit(r: RequestResult) -> None:
        nonlocal printed
        _say(encode(r))
        printed += 1
        if printed % TRIM_EVERY == 0:
            # Bounded memory: the generator keeps every request it sent; the printed ones are the
            # runner's now (the generator only ever appends, and reads none back).
            load.results[:] = [x for x in load.results if x.done is None]

    load = LoadGenerator(
        LoadOptions(host=host, port=port, rate=args.rps, path=args.path, connections=args.connections,
                    timeout=args.timeout),
        clock,
        on_result=emit,
    )  # fmt: skip
    # Both clocks read together: the runner maps these times onto its own (agentwire.ClockMap).
    _say(
        _json(
            type="ready", monotonic=round(time.monotonic(), 6), wall=round(time.time(), 6), bootId=boot_id()
        )
    )
    runner = spawn("agent-load", load.run())
    stop = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({runner, stop}, return_when=asyncio.FIRST_COMPLETED)
        load.stop()
        await runner
        await load.drain(args.timeout + 0.5)
    finally:
        await cancel_and_wait(stop)
        if not runner.done():
            await cancel_and_wait(runner)
        await load.cancel()
    # The watches ran through the drain: the deletions it saw are in the view too.
    watches.say_gaps()
    _say(_json(type="end", requests=printed, overload=load.overload))
    return 0


class Watches:
    """The view's watches (verify/agentwatch.py) from inside the pod, each event printed; a watch
    that cannot run is said once (``watch-error``) and the load goes on without them."""

    def __init__(self, args: argparse.Namespace, clock: Clock) -> None:
        self.args = args
        self.clock = clock
        self.client: KubeClient | None = None
        self.reflectors: list[Reflector] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.failed = asyncio.Event()
        self.last_error = ""

    def _printer(self, resource: str) -> EventHandler:
        def handler(kind: str, obj: JSON, at: float) -> None:
            if not self.failed.is_set():
                _say(encode_watch(resource, kind, obj, at))

        return handler

    def _fail(self, message: str) -> None:
        if not self.failed.is_set():
            self.failed.set()
            _say(_json(type="watch-error", message=message))

    async def start(self, stopping: asyncio.Event) -> None:
        """Until every list answered, the watches cannot run, or SIGTERM."""
        try:
            creds = load_incluster()
        except (OSError, ValueError) as exc:
            self._fail(f"no in-cluster API access: {exc}")
            return
        self.client = KubeClient(creds)
        await self.client.__aenter__()
        ns, a = self.args.namespace, self.args
        self.reflectors = view_reflectors(
            self.client, self.clock, ns, a.selector, a.service,
            self._printer("pods"), self._printer("endpointslices"), self._printer("events"),
        )  # fmt: skip
        self.tasks = [spawn(f"agent-watch-{r.resource}", self._run(r)) for r in self.reflectors]
        every = asyncio.ensure_future(self._synced())
        failed = asyncio.ensure_future(self.failed.wait())
        stop = asyncio.ensure_future(stopping.wait())
        try:
            done, _ = await asyncio.wait(
                {every, failed, stop}, timeout=a.watch_timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if not done:
                why = f": {self.last_error}" if self.last_error else ""
                self._fail(f"the lists did not all answer within {a.watch_timeout:g} s{why}")
            elif every in done:
                _say(_json(type="watching", resources=[r.resource for r in self.reflectors]))
        finally:
            await cancel_and_wait(every, failed, stop)
        if self.failed.is_set():
            await self.stop()

    async def _synced(self) -> None:
        for r in self.reflectors:
            await r.synced.wait()

    async def _run(self, reflector: Reflector) -> None:
        backoff = SHORT_WATCH_BACKOFF
        while True:
            try:
                await reflector.run()
            except (ApiError, aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
                if not reflector.synced.is_set():
                    # Until the first list answered, retried as client-go's reflector retries
                    # ListAndWatch: the RoleBinding made just before the pod may not have reached
                    # the API server's authorizer yet (start() bounds this by --watch-timeout).
                    self.last_error = f"{reflector.resource}: {exc}"
                    await self.clock.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                # Past the first list a failure is final (the Reflector retries what it can):
                # the runner blames from its own watches then.
                self._fail(f"{reflector.resource}: {exc}")
            return

    def say_gaps(self) -> None:
        if self.failed.is_set():
            return
        for r in self.reflectors:
            for g in r.gaps:
                _say(
                    _json(
                        type="gap",
                        resource=g.resource,
                        start=round(g.start, 6),
                        end=round(g.end, 6),
                        why=g.why,
                    )
                )

    async def stop(self) -> None:
        for task in self.tasks:
            await cancel_and_wait(task)
        self.tasks = []
        if self.client is not None:
            await self.client.__aexit__()
            self.client = None


async def _warm_up(
    args: argparse.Namespace,
    host: str,
    port: int,
    wanted: set[str],
    clock: RealClock,
    stopping: asyncio.Event,
) -> str | None:
    """Fresh connections (each may go to another pod) until every wanted pod answered once."""
    answered: set[str] = set()
    done = asyncio.Event()

    def seen(r: RequestResult) -> None:
        if r.pod in wanted and not r.failed and r.pod not in answered:
            answered.add(r.pod)
            _say(_json(type="warm-up", answered=sorted(answered)))
            if answered >= wanted:
                done.set()

    probe = LoadGenerator(
        LoadOptions(host=host, port=port, rate=WARM_UP_RPS, path=args.path, connections="close",
                    timeout=args.timeout),
        clock,
        on_result=seen,
    )  # fmt: skip
    runner = spawn("agent-warm-up", probe.run())
    waits = [asyncio.ensure_future(done.wait()), asyncio.ensure_future(stopping.wait())]
    try:
        await asyncio.wait(
            [*waits, runner], timeout=args.warm_up_timeout, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        probe.stop()
        for w in waits:
            await cancel_and_wait(w)
        if not runner.done():
            await cancel_and_wait(runner)
        await probe.cancel()
    if done.is_set() or stopping.is_set():
        return None
    missing = ", ".join(sorted(wanted - answered))
    return (
        f"not every Ready pod answered through {host}:{port} within {args.warm_up_timeout:g} s "
        f"(never answered: {missing})"
    )
