"""``hitless verify FILE... --kubeconfig PATH``: the same verification on a cluster, through its API.

Preflight (``/version``; a SelfSubjectAccessReview per permission the run needs: a missing one is
exit 2 before anything is touched), a throwaway namespace labelled ``hitless.dev/run`` (always
deleted, on Ctrl-C too), server-side apply of the manifests into it (``dryRun=All`` first), the
workload's rollout awaited as ``kubectl rollout status`` awaits it, then the rollout scenario as
``kubectl rollout restart`` does it, ``--repeat`` times, under open-loop load from this machine.
The load goes to the Service's LoadBalancer address, a NodePort on a node's address, or the
ClusterIP, whichever answers from here first; never through port-forward or the API server's
service proxy (each bypasses kube-proxy). Failed requests are blamed from the watch view
(verify/clusterview.py), each with its evidence. The steps are in verify/cluster_steps.py.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
from collections import Counter
from dataclasses import dataclass
from typing import Any

from hitless.api.loader import LoadedObject
from hitless.api.types.service import Service
from hitless.clock import Clock
from hitless.kube.client import ApiError, KubeClient, kubeconfig_files, load_kubeconfig
from hitless.tasks import cancel_and_wait, spawn
from hitless.verify import cluster_scenarios
from hitless.verify.agent import Load, agent_summary, start_load
from hitless.verify.applog import AppLogs, apply_sigterm, peer_index
from hitless.verify.attribute import Attribution, Route, RunContext
from hitless.verify.cluster_cleanup import delete_namespace, kubectl
from hitless.verify.cluster_steps import (
    RUN_LABEL,
    SETTLE_TIMEOUT,
    ClusterError,
    ClusterOptions,
    PreflightError,
    Watched,
    apply,
    missing_access,
    path,
    required_access,
)
from hitless.verify.clusterrecord import restart_notes
from hitless.verify.clusterview import EXACT, EXACT_APP_LOG, INFERRED, blame, measure_allowance, propagation
from hitless.verify.findings import findings
from hitless.verify.report import Report

EXIT_FAILED = 1
EXIT_INVALID = 2


@dataclass
class Outcome:
    report: Report | None
    evidence: list[dict[str, Any]]
    run: dict[str, Any]


async def run_cluster(
    opts: ClusterOptions, loaded: list[LoadedObject], service: Service, deployment: str, clock: Clock
) -> Outcome:
    """Raises :class:`ClusterError` for what stops the run; exit 2 cases are told apart by the caller."""
    try:
        creds = load_kubeconfig(opts.kubeconfig, opts.context)
    except Exception as exc:  # the loader raises ConfigException, OSError, YAML errors...
        raise PreflightError(f"kubeconfig {kubeconfig_files(opts.kubeconfig)}: {exc}") from exc
    async with KubeClient(creds) as client:
        try:
            version = await client.request("GET", "/version", timeout=10)
        except (ApiError, OSError) as exc:
            raise PreflightError(f"{creds.host}/version: {exc}") from exc
        run_id = secrets.token_hex(4)
        namespace = opts.namespace or f"hitless-verify-{run_id}"
        need = required_access(
            {i.kind for i in loaded},
            namespace,
            own_namespace=opts.namespace is None,
            scenario=opts.scenario,
            workload=opts.workload_kind,
            agent=opts.load_from != "runner",
        )
        missing = await missing_access(client, need)
        if missing:
            raise PreflightError(
                "missing permissions (SelfSubjectAccessReview said no), nothing was created: "
                + "; ".join(missing)
            )
        await cluster_scenarios.preflight(client, opts.scenario)
        info = {
            "mode": "cluster",
            "server": creds.host,
            "serverVersion": version.get("gitVersion"),
            "namespace": namespace,
            "runId": run_id,
        }
        created = False
        applied: list[LoadedObject] = []
        try:
            if opts.namespace is None:
                try:
                    await client.request(
                        "POST",
                        "/api/v1/namespaces",
                        body={
                            "apiVersion": "v1",
                            "kind": "Namespace",
                            "metadata": {"name": namespace, "labels": {RUN_LABEL: run_id}},
                        },
                    )
                except asyncio.CancelledError:
                    # A Ctrl-C while the POST was out: the server may have created it already
                    # (a watcher may have seen it); deleting one that is not there is a 404, no harm.
                    created = True
                    LEFT.add(namespace)
                    raise
                created = True
                LEFT.add(namespace)
            await apply(client, loaded, namespace, dry_run=True)
            applied = loaded
            await apply(client, loaded, namespace, dry_run=False)
            return await _observe(client, opts, namespace, service, deployment, clock, info)
        finally:
            # Shielded: a Ctrl-C cancels the run, not its cleanup (a second one leaves it: main()).
            if created:
                info["cleanup"] = await asyncio.shield(_delete_namespace(client, namespace, clock, opts))
            else:
                await asyncio.shield(_delete_applied(client, applied, namespace))


# The throwaway namespaces created and not yet deleted, for main() to name after a second Ctrl-C.
LEFT: set[str] = set()


async def _delete_namespace(
    client: KubeClient, namespace: str, clock: Clock, opts: ClusterOptions
) -> dict[str, Any]:
    # Bounded, as kubectl delete --wait; a namespace left is said plainly (verify/cluster_cleanup.py).
    done = await delete_namespace(client, namespace, clock, kubectl(opts.kubeconfig, opts.context))
    if done["deleted"]:
        LEFT.discard(namespace)
    return done


async def _delete_applied(client: KubeClient, applied: list[LoadedObject], namespace: str) -> None:
    """In a namespace of the user's (--namespace): what the run applied, in reverse order."""
    for item in reversed(applied):
        try:
            await client.request("DELETE", path(item.kind, namespace, item.name))
        except ApiError as exc:
            if exc.code != 404:
                print(f"hitless verify: could not delete {item.kind}/{item.name}: {exc}", file=sys.stderr)


async def _observe(
    client: KubeClient,
    opts: ClusterOptions,
    namespace: str,
    service: Service,
    deployment: str,
    clock: Clock,
    info: dict[str, Any],
) -> Outcome:
    selector = ",".join(f"{k}={v}" for k, v in (service.spec.selector or {}).items())
    watched = Watched(client, clock, namespace, selector, service.name, opts.workload_kind)
    # Each pod's log from the moment it runs: its SIGTERM line and the peers it answered.
    logs = AppLogs(client, namespace, clock)
    watched.view.on_running = logs.follow
    await watched.start()
    key = (namespace, deployment)
    scene = cluster_scenarios.Scene(client, watched, clock, namespace, opts.workload_kind, deployment)

    def done() -> bool:
        obj = watched.workloads.cache.get(key)
        return obj is not None and cluster_scenarios.rollout_status(opts.workload_kind, obj)[0]

    incomplete: str | None = None
    load: Load | None = None
    runner: asyncio.Task[None] | None = None
    try:
        try:
            await watched.until(done, SETTLE_TIMEOUT)
        except TimeoutError:
            obj = watched.workloads.cache.get(key)
            why = (
                cluster_scenarios.rollout_status(opts.workload_kind, obj)[1]
                if obj
                else f'{opts.workload_kind.lower()} "{deployment}" not seen'
            )
            raise ClusterError(
                f"the workload never rolled out within {SETTLE_TIMEOUT:.0f} s: {why}"
            ) from None
        # From this machine, or from the in-cluster agent (--load-from; verify/agent.py), warmed up.
        load = await start_load(client, opts, namespace, service, watched, clock, info)
        runner = spawn("load", load.run())
        origin = clock.now()
        for i in range(opts.repeat):
            try:
                await cluster_scenarios.run_once(scene, opts.scenario, i + 1, last=i == opts.repeat - 1)
            except cluster_scenarios.Incomplete as exc:
                incomplete = str(exc)
                break
        load.stop()
        await runner
        await load.drain(opts.timeout + 1)
    finally:
        if runner is not None and not runner.done():
            await cancel_and_wait(runner)
        if load is not None:
            await load.cancel()
        await logs.stop()
        await watched.stop()
    return _outcome(
        load.results, watched, opts, namespace, deployment, service, origin, incomplete, info, logs
    )


def _outcome(
    requests: list[Any],
    watched: Watched,
    opts: ClusterOptions,
    namespace: str,
    deployment: str,
    service: Service,
    origin: float,
    incomplete: str | None,
    info: dict[str, Any],
    logs: AppLogs | None = None,
) -> Outcome:
    # One proxy routes every connection unless a LoadBalancer spreads them over nodes: then the
    # answers' order bounds it (clusterview.py, proxyorder.py). The allowance for its lag is
    # measured from this run when its failures or late answers show one, else the fixed value.
    single_proxy = info.get("target", {}).get("through") != "LoadBalancer"
    allowance = measure_allowance(requests, watched.view, single_proxy)
    info["propagationAllowance"] = allowance.to_json()
    peers = None
    if logs is not None:
        # The app's SIGTERM line replaces the deletion-plus-preStop estimate of the stop signal.
        stops = apply_sigterm(logs.logs, watched.view.timeline, namespace)
        info["appLog"] = {"pods": len(logs.logs), "sigterm": stops, "unread": logs.unread}
        peers = peer_index(logs.logs, opts.path)
    blames = blame(requests, watched.view, allowance.seconds, single_proxy, peers)
    context = RunContext(service=f"{namespace}/{service.name}", workload=(opts.workload_kind, deployment))
    usable = [b.failure for b in blames if b.evidence in (EXACT, EXACT_APP_LOG, INFERRED)]
    attribution = Attribution(routes=[Route() for _ in requests], failures=[b.failure for b in blames])
    info["gaps"] = [
        {**g, "start": round(g["start"] - origin, 3), "end": round(g["end"] - origin, 3)}
        for g in watched.gaps()
    ]
    info["evidence"] = dict(Counter(b.evidence for b in blames))
    # Seconds after a replaced pod's endpoint stopped being ready that a new connection still
    # reached it (a lower bound of this cluster's propagation delay; clusterview.propagation).
    info["propagation"] = propagation(requests, watched.view)
    info["restarts"] = restart_notes(watched.view, origin)  # liveness kills, crashes: clusterrecord.py
    report = Report(
        requests=requests,
        attribution=attribution,
        findings=findings(usable, watched.view.timeline, context),
        timeline=watched.view.timeline,
        origin=origin,
        max_failures=opts.max_failures,
        run={
            "scenario": opts.scenario,
            "repeat": opts.repeat,
            "rps": opts.rps,
            "connections": opts.connections,
        },
        incomplete=incomplete,
    )
    evidence = [{"evidence": b.evidence, "candidates": b.candidates} for b in blames]
    return Outcome(report, evidence, info)


def document(outcome: Outcome) -> dict[str, Any]:
    """report.json: the local shape, plus ``mode``, ``cluster`` and an ``evidence`` per failure."""
    assert outcome.report is not None
    doc = outcome.report.to_json()
    doc["mode"] = "cluster"
    doc["cluster"] = outcome.run
    for failure, extra in zip(doc["failures"], outcome.evidence, strict=True):
        failure.update(extra)
    by_pod: dict[str, dict[str, int]] = {}
    for r in outcome.report.requests:
        if r.pod is not None:
            entry = by_pod.setdefault(r.pod, {"total": 0, "failed": 0})
            entry["total"] += 1
    doc["requests"]["byPod"] = dict(sorted(by_pod.items()))
    return doc


def main(
    opts: ClusterOptions,
    loaded: list[LoadedObject],
    service: Service,
    deployment: str,
    output: str = "text",
    report_dir: str | None = None,
) -> int:
    """The CLI's entry (cli/verify.py dispatches here on --kubeconfig): run, print, exit code."""
    from hitless.clock import RealClock
    from hitless.verify.emit import emit

    try:
        outcome = asyncio.run(run_cluster(opts, loaded, service, deployment, RealClock()))
    except KeyboardInterrupt:
        # asyncio.run turns the first Ctrl-C into a cancellation (the cleanup runs); a second one
        # stops it: say what is left behind.
        for namespace in sorted(LEFT):
            print(
                f"hitless verify: interrupted again; namespace {namespace} was left in place: "
                f"kubectl delete namespace {namespace}",
                file=sys.stderr,
            )
        print("hitless verify: interrupted", file=sys.stderr)
        return EXIT_FAILED
    except PreflightError as exc:
        print(f"hitless verify: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except ClusterError as exc:
        print(f"hitless verify: {exc}", file=sys.stderr)
        return EXIT_FAILED
    assert outcome.report is not None
    counts = ", ".join(f"{n} {e}" for e, n in outcome.run["evidence"].items())
    trailer = (
        f"cluster {outcome.run['server']}, namespace {outcome.run['namespace']}"
        f"; evidence: {counts or 'no failures'}; watch gaps: {len(outcome.run['gaps'])}\n"
    )
    if "agent" in outcome.run:
        trailer += agent_summary(outcome.run["agent"]) + "\n"
    emit(
        outcome.report,
        document(outcome),
        loaded,
        output=output,
        report_dir=report_dir,
        picture_gaps=outcome.run.get("gaps", []),
        trailer=trailer,
    )
    if not outcome.run.get("cleanup", {}).get("deleted", True):
        # As kubectl delete --wait that times out: the run's verdict stands in the report, but
        # the command did not finish what it started (a namespace is left on the cluster).
        return EXIT_FAILED
    return 0 if outcome.report.passed else EXIT_FAILED
