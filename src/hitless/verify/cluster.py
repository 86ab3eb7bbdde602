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

:func:`run_cluster` is the run, on :class:`~hitless.verify.options.VerifyOptions` whose ``cluster``
names the cluster; :func:`verify_cluster` is its synchronous form. Both give a
:class:`~hitless.verify.result.Result`, as a local run does (verify/local.py); the CLI
(cli/verify.py) prints it through verify/emit.py and picks the exit code.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
from collections import Counter
from collections.abc import Sequence
from typing import Any

from hitless.api.loader import LoadedObject
from hitless.api.types.meta import K8sObject
from hitless.api.types.service import Service
from hitless.clock import Clock, RealClock
from hitless.kube.client import ApiError, KubeClient
from hitless.kube.config import kubeconfig_files, load_kubeconfig
from hitless.tasks import cancel_and_wait, spawn
from hitless.verify import cluster_scenarios
from hitless.verify.agent import AgentLoad, Load, start_load
from hitless.verify.applog import AppLogs, apply_sigterm, peer_index
from hitless.verify.attribute import Attribution, RunContext
from hitless.verify.cluster_cleanup import delete_namespace, kubectl
from hitless.verify.cluster_steps import (
    RUN_LABEL,
    SETTLE_TIMEOUT,
    ClusterError,
    PreflightError,
    Watched,
    apply,
    missing_access,
    path,
    required_access,
)
from hitless.verify.clusterrecord import ClusterView, restart_notes
from hitless.verify.clusterview import EXACT, EXACT_APP_LOG, INFERRED, blame, measure_allowance, propagation
from hitless.verify.findings import findings
from hitless.verify.join import Route
from hitless.verify.options import ClusterTarget, VerifyOptions
from hitless.verify.picking import Picked, pick
from hitless.verify.report import Report
from hitless.verify.result import Result, VerifyInputError

__all__ = ["ClusterError", "Interrupted", "PreflightError", "plan_cluster", "run_cluster", "verify_cluster"]


class Interrupted(KeyboardInterrupt):
    """A Ctrl-C stopped the run (the first one: after its cleanup; a second one: during it)."""

    def __init__(self, left: list[str]) -> None:
        super().__init__()
        # The throwaway namespaces not deleted: a second Ctrl-C cut their deletion short.
        self.left = left


def plan_cluster(objects: Sequence[K8sObject], opts: VerifyOptions) -> Picked | str:
    """The Service and workload a cluster run acts on, or why there are none to verify."""
    if problems := opts.problems():
        return "; ".join(problems)
    if opts.cluster is None:
        return "the options name no cluster (VerifyOptions.cluster): verify_local runs on this machine"
    picked = pick(objects, opts.service, opts.workload)
    if isinstance(picked, str):
        return picked
    kind, _ = picked.context.workload or ("", "")
    replicas = picked.context.desired_replicas
    if problem := cluster_scenarios.refusal(opts.scenario, kind, replicas, opts.cluster.allow_node_drain):
        return f"--kubeconfig: {problem}"
    return picked


def verify_cluster(loaded: Sequence[LoadedObject], opts: VerifyOptions) -> Result:
    """:func:`run_cluster` from synchronous code, as the CLI runs it, on this machine's clock.

    VerifyInputError before anything is asked of the cluster; PreflightError when the cluster
    refuses before anything of the run exists on it; ClusterError when the run cannot go on. The
    first Ctrl-C cancels the run into its cleanup (the throwaway namespace deleted), then raises
    :class:`Interrupted`; a second one stops the cleanup too, and :class:`Interrupted` names
    the namespaces left.
    """
    problem = plan_cluster([o.obj for o in loaded], opts)
    if isinstance(problem, str):
        raise VerifyInputError(problem)
    try:
        return asyncio.run(run_cluster(loaded, opts, RealClock()))
    except KeyboardInterrupt as exc:
        raise Interrupted(sorted(LEFT)) from exc


async def run_cluster(loaded: Sequence[LoadedObject], opts: VerifyOptions, clock: Clock) -> Result:
    """Apply ``loaded`` on ``opts.cluster``, load its Service, run the scenario, blame every failure.

    Raises :class:`VerifyInputError` (:func:`plan_cluster`'s problem) and :class:`PreflightError`
    before anything is created, :class:`ClusterError` for what stops the run later; what the run
    created is removed in every case.
    """
    picked = plan_cluster([o.obj for o in loaded], opts)
    if isinstance(picked, str):
        raise VerifyInputError(picked)
    target = opts.cluster
    assert target is not None and picked.context.workload is not None  # plan_cluster's
    workload = picked.context.workload
    service = picked.service
    try:
        creds = load_kubeconfig(target.kubeconfig, target.context)
    except Exception as exc:  # the loader raises ConfigException, OSError, YAML errors...
        raise PreflightError(f"kubeconfig {kubeconfig_files(target.kubeconfig)}: {exc}") from exc
    async with KubeClient(creds) as client:
        try:
            version = await client.request("GET", "/version", timeout=10)
        except (ApiError, OSError) as exc:
            raise PreflightError(f"{creds.host}/version: {exc}") from exc
        run_id = secrets.token_hex(4)
        namespace = target.namespace or f"hitless-verify-{run_id}"
        need = required_access(
            {i.kind for i in loaded},
            namespace,
            own_namespace=target.namespace is None,
            scenario=opts.scenario,
            workload=workload[0],
            agent=target.load_from != "runner",
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
        applied: Sequence[LoadedObject] = []
        try:
            if target.namespace is None:
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
            return await _observe(client, opts, namespace, service, workload, clock, info)
        finally:
            # Shielded: a Ctrl-C cancels the run, not its cleanup (a second one leaves it:
            # verify_cluster's Interrupted names it).
            if created:
                info["cleanup"] = await asyncio.shield(_delete_namespace(client, namespace, clock, target))
            else:
                await asyncio.shield(_delete_applied(client, applied, namespace))


# The throwaway namespaces created and not yet deleted, for verify_cluster to name after a second
# Ctrl-C.
LEFT: set[str] = set()


async def _delete_namespace(
    client: KubeClient, namespace: str, clock: Clock, target: ClusterTarget
) -> dict[str, Any]:
    # Bounded, as kubectl delete --wait; a namespace left is said plainly (verify/cluster_cleanup.py).
    done = await delete_namespace(client, namespace, clock, kubectl(target.kubeconfig, target.context))
    if done["deleted"]:
        LEFT.discard(namespace)
    return done


async def _delete_applied(client: KubeClient, applied: Sequence[LoadedObject], namespace: str) -> None:
    """In a namespace of the user's (--namespace): what the run applied, in reverse order."""
    for item in reversed(applied):
        try:
            await client.request("DELETE", path(item.kind, namespace, item.name))
        except ApiError as exc:
            if exc.code != 404:
                print(f"hitless verify: could not delete {item.kind}/{item.name}: {exc}", file=sys.stderr)


async def _observe(
    client: KubeClient,
    opts: VerifyOptions,
    namespace: str,
    service: Service,
    workload: tuple[str, str],
    clock: Clock,
    info: dict[str, Any],
) -> Result:
    kind, deployment = workload
    selector = ",".join(f"{k}={v}" for k, v in (service.spec.selector or {}).items())
    watched = Watched(client, clock, namespace, selector, service.name, kind)
    # Each pod's log from the moment it runs: its SIGTERM line and the peers it answered.
    logs = AppLogs(client, namespace, clock)
    watched.view.on_running = logs.follow
    await watched.start()
    key = (namespace, deployment)
    scene = cluster_scenarios.Scene(client, watched, clock, namespace, kind, deployment)

    def done() -> bool:
        obj = watched.workloads.cache.get(key)
        return obj is not None and cluster_scenarios.rollout_status(kind, obj)[0]

    incomplete: str | None = None
    load: Load | None = None
    runner: asyncio.Task[None] | None = None
    try:
        try:
            await watched.until(done, SETTLE_TIMEOUT)
        except TimeoutError:
            obj = watched.workloads.cache.get(key)
            why = (
                cluster_scenarios.rollout_status(kind, obj)[1]
                if obj
                else f'{kind.lower()} "{deployment}" not seen'
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
    # The agent's own watches, on its requests' clock, when it ran them (verify/agentview.py).
    seen = load.view(namespace, watched.ignored) if isinstance(load, AgentLoad) else None
    return _outcome(
        load.results, watched, opts, namespace, workload, service, origin, incomplete, info, logs, seen
    )


def _outcome(
    requests: list[Any],
    watched: Watched,
    opts: VerifyOptions,
    namespace: str,
    workload: tuple[str, str],
    service: Service,
    origin: float,
    incomplete: str | None,
    info: dict[str, Any],
    logs: AppLogs | None = None,
    seen: tuple[ClusterView, list[dict[str, Any]]] | None = None,
) -> Result:
    # The view blamed from: the runner's watches, or the agent's (``seen``: its view and gaps).
    view, gaps = seen if seen is not None else (watched.view, watched.gaps())
    # One proxy routes every connection unless a LoadBalancer spreads them over nodes: then the
    # answers' order bounds it (clusterview.py, proxyorder.py). The allowance for its lag is
    # measured from this run when its failures or late answers show one, else the fixed value.
    single_proxy = info.get("target", {}).get("through") != "LoadBalancer"
    allowance = measure_allowance(requests, view, single_proxy)
    info["propagationAllowance"] = allowance.to_json()
    peers = None
    if logs is not None:
        # The app's SIGTERM line replaces the deletion-plus-preStop estimate of the stop signal.
        stops = apply_sigterm(logs.logs, view.timeline, namespace)
        info["appLog"] = {"pods": len(logs.logs), "sigterm": stops, "unread": logs.unread}
        peers = peer_index(logs.logs, opts.path)
    blames = blame(requests, view, allowance.seconds, single_proxy, peers)
    context = RunContext(service=f"{namespace}/{service.name}", workload=workload)
    usable = [b.failure for b in blames if b.evidence in (EXACT, EXACT_APP_LOG, INFERRED)]
    attribution = Attribution(routes=[Route() for _ in requests], failures=[b.failure for b in blames])
    info["gaps"] = [
        {**g, "start": round(g["start"] - origin, 3), "end": round(g["end"] - origin, 3)} for g in gaps
    ]
    info["evidence"] = dict(Counter(b.evidence for b in blames))
    # Seconds after a replaced pod's endpoint stopped being ready that a new connection still
    # reached it (a lower bound of this cluster's propagation delay; clusterview.propagation).
    info["propagation"] = propagation(requests, view)
    info["restarts"] = restart_notes(view, origin)  # liveness kills, crashes: clusterrecord.py
    report = Report(
        requests=requests,
        attribution=attribution,
        findings=findings(usable, view.timeline, context),
        timeline=view.timeline,
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
    return Result(report, incomplete, sent=len(requests), cluster=info, evidence=evidence)
