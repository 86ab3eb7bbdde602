"""``hitless verify FILE... --kubeconfig PATH``: the same verification on a cluster, through its API.

Preflight (``/version``; a SelfSubjectAccessReview per permission the run needs: a missing one is
exit 2 before anything is touched), a throwaway namespace labelled ``hitless.dev/run`` (always
deleted, on Ctrl-C too), server-side apply of the manifests into it (``dryRun=All`` first), the
workload's rollout awaited as ``kubectl rollout status`` awaits it, then the rollout scenario as
``kubectl rollout restart`` does it, ``--repeat`` times, under open-loop load from this machine.
The load goes to the Service's LoadBalancer address, a NodePort on a node's address, or the
ClusterIP, whichever answers from here first; never through port-forward or the API server's
service proxy (each bypasses kube-proxy). Failed requests are blamed from the watch view
(verify/clusterview.py), each with its evidence.
"""

from __future__ import annotations

import asyncio
import datetime
import secrets
import sys
from collections import Counter
from dataclasses import dataclass
from typing import Any

from hitless.api.loader import LoadedObject
from hitless.api.types.service import Service
from hitless.apiserver.kinds import by_kind
from hitless.clock import Clock
from hitless.kube.client import JSON, ApiError, KubeClient, Reflector, load_kubeconfig
from hitless.tasks import cancel_and_wait, spawn
from hitless.verify.attribute import Attribution, Route, RunContext
from hitless.verify.clusterview import EXACT, INFERRED, ClusterView, blame
from hitless.verify.findings import findings
from hitless.verify.generator import ConnectionMode, LoadGenerator, LoadOptions
from hitless.verify.report import Report

EXIT_FAILED = 1
EXIT_INVALID = 2
FIELD_MANAGER = "hitless"
RUN_LABEL = "hitless.dev/run"
SETTLE_TIMEOUT = 120.0
WARM_UP_TIMEOUT = 30.0
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


class ClusterError(Exception):
    """The run could not go on; the message says why, in the API server's words when it spoke."""


@dataclass
class ClusterOptions:
    kubeconfig: str
    context: str | None
    namespace: str | None
    path: str = "/"
    rps: float = 200
    connections: ConnectionMode = "keepalive"
    repeat: int = 3
    timeout: float = 3.0
    max_failures: int = 0


def required_access(kinds: set[str], namespace: str, own_namespace: bool) -> list[dict[str, str]]:
    """Each permission the run uses: (verb, group, resource, namespace)."""
    need: list[tuple[str, str, str, str]] = []
    if own_namespace:
        need += [("create", "", "namespaces", ""), ("delete", "", "namespaces", "")]
    for kind in sorted(kinds):
        res = by_kind(kind)
        if res is not None:
            ns = namespace if res.namespaced else ""
            need += [("create", res.group, res.plural, ns), ("patch", res.group, res.plural, ns)]
    for verb in ("list", "watch"):
        need += [
            (verb, "", "pods", namespace),
            (verb, "discovery.k8s.io", "endpointslices", namespace),
            (verb, "", "events", namespace),
            (verb, "apps", "deployments", namespace),
        ]
    need += [("get", "", "services", namespace), ("patch", "apps", "deployments", namespace)]
    return [{"verb": v, "group": g, "resource": r, "namespace": n} for v, g, r, n in dict.fromkeys(need)]


async def missing_access(client: KubeClient, need: list[dict[str, str]]) -> list[str]:
    answers = await asyncio.gather(
        *(client.can_i(a["verb"], a["resource"], a["group"], a["namespace"]) for a in need)
    )
    return [
        f"{a['verb']} {a['resource']}{'.' + a['group'] if a['group'] else ''}"
        + (f" in namespace {a['namespace']}" if a["namespace"] else " (cluster-scoped)")
        for a, ok in zip(need, answers, strict=True)
        if not ok
    ]


def _path(kind: str, namespace: str, name: str = "") -> str:
    res = by_kind(kind)
    if res is None:
        raise ClusterError(f"kind {kind} is not known to hitless")
    base = f"/api/{res.version}" if not res.group else f"/apis/{res.group}/{res.version}"
    if res.namespaced:
        base += f"/namespaces/{namespace}"
    return f"{base}/{res.plural}" + (f"/{name}" if name else "")


async def apply(client: KubeClient, loaded: list[LoadedObject], namespace: str, dry_run: bool) -> None:
    """Server-side apply, as ``kubectl apply --server-side --force-conflicts`` sends it."""
    for item in loaded:
        body = dict(item.raw)
        body["metadata"] = {**(body.get("metadata") or {}), "namespace": namespace}
        query = {"fieldManager": FIELD_MANAGER, "force": "true"}
        if dry_run:
            query["dryRun"] = "All"
        try:
            await client.request(
                "PATCH",
                _path(item.kind, namespace, item.name),
                query=query,
                body=body,
                content_type="application/apply-patch+yaml",
            )
        except ApiError as exc:
            raise ClusterError(f"{item.file}:{item.line}: {item.kind}/{item.name}: {exc.message}") from exc


def rollout_done(deployment: JSON) -> tuple[bool, str]:
    """kubectl's DeploymentStatusViewer (kubectl/pkg/polymorphichelpers/rollout_status.go)."""
    spec, status = deployment.get("spec", {}), deployment.get("status", {})
    name = deployment.get("metadata", {}).get("name", "")
    if deployment.get("metadata", {}).get("generation", 0) > status.get("observedGeneration", 0):
        return False, "Waiting for deployment spec update to be observed..."
    for c in status.get("conditions") or []:
        if c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded":
            raise ClusterError(f'deployment "{name}" exceeded its progress deadline')
    want, updated = spec.get("replicas", 1), status.get("updatedReplicas", 0)
    if updated < want:
        return (
            False,
            f'Waiting for deployment "{name}" rollout to finish: '
            f"{updated} out of {want} new replicas have been updated...",
        )
    if status.get("replicas", 0) > updated:
        old = status.get("replicas", 0) - updated
        return (
            False,
            f'Waiting for deployment "{name}" rollout to finish: '
            f"{old} old replicas are pending termination...",
        )
    available = status.get("availableReplicas", 0)
    if available < updated:
        return (
            False,
            f'Waiting for deployment "{name}" rollout to finish: '
            f"{available} of {updated} updated replicas are available...",
        )
    return True, f'deployment "{name}" successfully rolled out'


class _Watched:
    """The run's reflectors and a wake-up for whoever waits on what they show."""

    def __init__(self, client: KubeClient, clock: Clock, namespace: str, selector: str, service: str) -> None:
        self.view = ClusterView(namespace)
        self.changed = asyncio.Event()
        ns = f"/namespaces/{namespace}"
        self.deployments = Reflector(client, f"/apis/apps/v1{ns}/deployments", clock, self._wake)
        self.reflectors = [
            Reflector(client, f"/api/v1{ns}/pods", clock, self._pod, label_selector=selector),
            Reflector(
                client,
                f"/apis/discovery.k8s.io/v1{ns}/endpointslices",
                clock,
                self._slice,
                label_selector=f"kubernetes.io/service-name={service}",
            ),
            Reflector(client, f"/api/v1{ns}/events", clock, self._event),
            self.deployments,
        ]
        self.tasks: list[asyncio.Task[None]] = []

    def _wake(self, kind: str, obj: JSON, at: float) -> None:
        self.changed.set()

    def _pod(self, kind: str, obj: JSON, at: float) -> None:
        self.view.on_pod(kind, obj, at)
        self.changed.set()

    def _slice(self, kind: str, obj: JSON, at: float) -> None:
        self.view.on_slice(kind, obj, at)
        self.changed.set()

    def _event(self, kind: str, obj: JSON, at: float) -> None:
        involved = obj.get("involvedObject") or {}
        if kind == "ADDED" and involved.get("kind") == "Pod":
            life = self.view.timeline.ensure(self.view.namespace, involved.get("name", ""))
            life.events.append((at, obj.get("reason", ""), obj.get("message", "")))

    async def start(self) -> None:
        self.tasks = [spawn(f"watch-{r.resource}", r.run()) for r in self.reflectors]
        await asyncio.wait_for(asyncio.gather(*(r.synced.wait() for r in self.reflectors)), SETTLE_TIMEOUT)

    async def stop(self) -> None:
        for task in self.tasks:
            await cancel_and_wait(task)

    async def until(self, check: Any, timeout: float) -> None:
        """Wait until ``check()`` is true, woken by each change the watches deliver."""
        async with asyncio.timeout(timeout):
            while not check():
                self.changed.clear()
                await self.changed.wait()

    def gaps(self) -> list[dict[str, Any]]:
        return [
            {"resource": g.resource, "start": g.start, "end": g.end, "why": g.why}
            for r in self.reflectors
            for g in r.gaps
        ]


async def _answers(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


async def pick_target(client: KubeClient, namespace: str, name: str) -> tuple[str, int, str]:
    """The first of LoadBalancer, NodePort, ClusterIP that accepts a connection from here."""
    svc = await client.request("GET", _path("Service", namespace, name))
    port = (svc.get("spec", {}).get("ports") or [{}])[0]
    tried: list[tuple[str, int, str]] = []
    for ingress in svc.get("status", {}).get("loadBalancer", {}).get("ingress") or []:
        lb_port = (ingress.get("ports") or [{"port": port.get("port")}])[0]["port"]
        tried.append((ingress.get("ip") or ingress.get("hostname"), lb_port, "LoadBalancer"))
    if port.get("nodePort"):
        try:
            nodes = await client.request("GET", "/api/v1/nodes")
        except ApiError:
            nodes = {}
        for node in nodes.get("items") or []:
            for addr in node.get("status", {}).get("addresses") or []:
                if addr.get("type") in ("ExternalIP", "InternalIP"):
                    tried.append((addr["address"], port["nodePort"], "NodePort"))
    ip = svc.get("spec", {}).get("clusterIP")
    if ip and ip != "None":
        tried.append((ip, port.get("port"), "ClusterIP"))
    # A Service's address answers once the proxies have programmed it: keep trying for a while.
    deadline = asyncio.get_running_loop().time() + WARM_UP_TIMEOUT
    while asyncio.get_running_loop().time() < deadline:
        for host, p, how in tried:
            if host and await _answers(host, p):
                return host, p, how
        await asyncio.sleep(0.2)
    where = ", ".join(f"{h}:{p} ({how})" for h, p, how in tried) or "no address"
    raise ClusterError(
        f'Service "{name}" does not answer from this machine ({where}); the in-cluster load agent '
        "is not implemented yet (issue 20), and port-forward or the API server's service proxy "
        "would bypass kube-proxy"
    )


async def warm_up(watched: _Watched, opts: ClusterOptions, host: str, port: int, clock: Clock) -> bool:
    """Until every Ready pod answered once through the Service (they name themselves)."""
    probe = LoadGenerator(
        LoadOptions(host=host, port=port, rate=20, path=opts.path, connections="close", timeout=opts.timeout),
        clock,
    )
    runner = spawn("warm-up", probe.run())
    try:
        async with asyncio.timeout(WARM_UP_TIMEOUT):
            while True:
                want = {
                    life.name
                    for life in watched.view.timeline.pods.values()
                    if life.ready_at(clock.now()) and life.deleted is None and life.gone is None
                }
                if want and want <= {r.pod for r in probe.results if not r.failed}:
                    return True
                await asyncio.sleep(0.1)
    except TimeoutError:
        return False
    finally:
        probe.stop()
        await runner
        await probe.cancel()


async def restart(client: KubeClient, namespace: str, name: str) -> int:
    """What ``kubectl rollout restart`` sends; the Deployment's new generation."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}}
    answer = await client.request(
        "PATCH",
        _path("Deployment", namespace, name),
        query={"fieldManager": "kubectl-rollout"},
        body=patch,
        content_type="application/strategic-merge-patch+json",
    )
    return int(answer.get("metadata", {}).get("generation", 0))


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
        raise PreflightError(f"kubeconfig {opts.kubeconfig}: {exc}") from exc
    async with KubeClient(creds) as client:
        try:
            version = await client.request("GET", "/version", timeout=10)
        except (ApiError, OSError) as exc:
            raise PreflightError(f"{creds.host}/version: {exc}") from exc
        run_id = secrets.token_hex(4)
        namespace = opts.namespace or f"hitless-verify-{run_id}"
        need = required_access({i.kind for i in loaded}, namespace, own_namespace=opts.namespace is None)
        missing = await missing_access(client, need)
        if missing:
            raise PreflightError(
                "missing permissions (SelfSubjectAccessReview said no), nothing was created: "
                + "; ".join(missing)
            )
        info = {
            "mode": "cluster",
            "server": creds.host,
            "serverVersion": version.get("gitVersion"),
            "namespace": namespace,
            "runId": run_id,
        }
        created = False
        try:
            if opts.namespace is None:
                await client.request(
                    "POST",
                    "/api/v1/namespaces",
                    body={
                        "apiVersion": "v1",
                        "kind": "Namespace",
                        "metadata": {"name": namespace, "labels": {RUN_LABEL: run_id}},
                    },
                )
                created = True
            await apply(client, loaded, namespace, dry_run=True)
            await apply(client, loaded, namespace, dry_run=False)
            return await _observe(client, opts, namespace, service, deployment, clock, info)
        finally:
            if created:
                await asyncio.shield(_delete_namespace(client, namespace))


class PreflightError(ClusterError):
    """Nothing was touched: exit 2."""


async def _delete_namespace(client: KubeClient, namespace: str) -> None:
    try:
        await client.request("DELETE", f"/api/v1/namespaces/{namespace}")
    except ApiError as exc:
        if exc.code != 404:
            print(f"hitless verify: could not delete namespace {namespace}: {exc}", file=sys.stderr)


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
    watched = _Watched(client, clock, namespace, selector, service.name)
    await watched.start()
    key = (namespace, deployment)

    def done() -> bool:
        obj = watched.deployments.cache.get(key)
        return obj is not None and rollout_done(obj)[0]

    incomplete: str | None = None
    load: LoadGenerator | None = None
    runner: asyncio.Task[None] | None = None
    try:
        try:
            await watched.until(done, SETTLE_TIMEOUT)
        except TimeoutError:
            obj = watched.deployments.cache.get(key)
            why = rollout_done(obj)[1] if obj else f'deployment "{deployment}" not seen'
            raise ClusterError(
                f"the workload never rolled out within {SETTLE_TIMEOUT:.0f} s: {why}"
            ) from None
        host, port, how = await pick_target(client, namespace, service.name)
        info["target"] = {"address": f"{host}:{port}", "through": how}
        if not await warm_up(watched, opts, host, port, clock):
            raise ClusterError(
                f"not every Ready pod answered through {host}:{port} within {WARM_UP_TIMEOUT:.0f} s"
            )
        load = LoadGenerator(
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
        runner = spawn("load", load.run())
        origin = clock.now()
        for i in range(opts.repeat):
            watched.view.timeline.marks.append((clock.now(), f"rollout restart {i + 1}"))
            generation = await restart(client, namespace, deployment)

            def rolled(generation: int = generation) -> bool:
                obj = watched.deployments.cache.get(key)
                return (
                    obj is not None
                    and obj.get("status", {}).get("observedGeneration", 0) >= generation
                    and rollout_done(obj)[0]
                )

            try:
                await watched.until(rolled, SETTLE_TIMEOUT)
            except TimeoutError:
                incomplete = f"rollout {i + 1} did not finish within {SETTLE_TIMEOUT:.0f} s"
                break
            # Until the replaced pods are gone: their last answers belong to this rollout.
            try:
                await watched.until(
                    lambda: all(p.gone is not None for p in watched.view.timeline.pods.values() if p.deleted),
                    SETTLE_TIMEOUT,
                )
            except TimeoutError:
                incomplete = (
                    f"the pods replaced by rollout {i + 1} were not gone within {SETTLE_TIMEOUT:.0f} s"
                )
                break
        load.stop()
        await runner
        await load.drain(opts.timeout + 1)
    finally:
        if runner is not None and not runner.done():
            await cancel_and_wait(runner)
        if load is not None:
            await load.cancel()
        await watched.stop()
    return _outcome(load.results, watched, opts, namespace, deployment, service, origin, incomplete, info)


def _outcome(
    requests: list[Any],
    watched: _Watched,
    opts: ClusterOptions,
    namespace: str,
    deployment: str,
    service: Service,
    origin: float,
    incomplete: str | None,
    info: dict[str, Any],
) -> Outcome:
    blames = blame(requests, watched.view)
    context = RunContext(service=f"{namespace}/{service.name}", workload=("Deployment", deployment))
    usable = [b.failure for b in blames if b.evidence in (EXACT, INFERRED)]
    attribution = Attribution(routes=[Route() for _ in requests], failures=[b.failure for b in blames])
    info["gaps"] = [
        {**g, "start": round(g["start"] - origin, 3), "end": round(g["end"] - origin, 3)}
        for g in watched.gaps()
    ]
    info["evidence"] = dict(Counter(b.evidence for b in blames))
    report = Report(
        requests=requests,
        attribution=attribution,
        findings=findings(usable, watched.view.timeline, context),
        timeline=watched.view.timeline,
        origin=origin,
        max_failures=opts.max_failures,
        run={"scenario": "rollout", "repeat": opts.repeat, "rps": opts.rps, "connections": opts.connections},
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
    import json
    from pathlib import Path

    from hitless.clock import RealClock
    from hitless.verify.html import render_html
    from hitless.verify.sources import locate

    try:
        outcome = asyncio.run(run_cluster(opts, loaded, service, deployment, RealClock()))
    except PreflightError as exc:
        print(f"hitless verify: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except ClusterError as exc:
        print(f"hitless verify: {exc}", file=sys.stderr)
        return EXIT_FAILED
    assert outcome.report is not None
    doc = document(outcome)
    locate(doc["findings"], loaded)
    if report_dir:
        out = Path(report_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(doc, indent=2) + "\n")
        (out / "report.html").write_text(render_html(doc), encoding="utf-8")
    if output == "json":
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    elif output == "junit":
        sys.stdout.write(outcome.report.junit())
    else:
        sys.stdout.write(outcome.report.text())
        counts = ", ".join(f"{n} {e}" for e, n in outcome.run["evidence"].items())
        sys.stdout.write(f"cluster {outcome.run['server']}, namespace {outcome.run['namespace']}")
        sys.stdout.write(f"; evidence: {counts or 'no failures'}; watch gaps: {len(outcome.run['gaps'])}\n")
    return 0 if outcome.report.passed else EXIT_FAILED
