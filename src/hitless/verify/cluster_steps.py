"""The steps of ``hitless verify --kubeconfig`` (verify/cluster.py), each as kubectl or the API
server's own clients do it: the permissions a run needs, server-side apply, ``kubectl rollout
status``'s rule, ``kubectl rollout restart``'s patch, the watches, the Service address to load."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Sequence
from typing import Any

from hitless.api.loader import LoadedObject
from hitless.apiserver.kinds import by_kind
from hitless.clock import Clock
from hitless.kube.client import JSON, ApiError, KubeClient, Reflector
from hitless.tasks import cancel_and_wait, spawn
from hitless.verify.agentwatch import view_reflectors
from hitless.verify.clusterview import ClusterView
from hitless.verify.generator import LoadGenerator, LoadOptions
from hitless.verify.options import VerifyOptions

FIELD_MANAGER = "hitless"
RUN_LABEL = "hitless.dev/run"
SETTLE_TIMEOUT = 120.0
WARM_UP_TIMEOUT = 30.0
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


class ClusterError(Exception):
    """The run could not go on; the message says why, in the API server's words when it spoke."""


class PreflightError(ClusterError):
    """Nothing of the input exists on the cluster (the run's own namespace at most): exit 2."""


def required_access(
    kinds: set[str],
    namespace: str,
    own_namespace: bool,
    scenario: str = "rollout",
    workload: str = "Deployment",
    agent: bool = False,
) -> list[dict[str, str]]:
    """Each permission the run uses: (verb, group, resource, subresource, namespace); the
    scenario's own as verify/cluster_scenarios.py sends its requests."""
    need: list[tuple[str, str, str, str, str]] = []
    if own_namespace:
        need += [("create", "", "namespaces", "", ""), ("delete", "", "namespaces", "", "")]
    for kind in sorted(kinds):
        res = by_kind(kind)
        if res is not None:
            ns = namespace if res.namespaced else ""
            need += [("create", res.group, res.plural, "", ns), ("patch", res.group, res.plural, "", ns)]
    workloads = by_kind(workload)
    plural = workloads.plural if workloads is not None else "deployments"
    for verb in ("list", "watch"):
        need += [
            (verb, "", "pods", "", namespace),
            (verb, "discovery.k8s.io", "endpointslices", "", namespace),
            (verb, "", "events", "", namespace),
            (verb, "apps", "deployments", "", namespace),
            (verb, "apps", plural, "", namespace),
        ]
    need += [("get", "", "services", "", namespace)]
    need += {
        "rollout": [("patch", "apps", plural, "", namespace)],
        "delete-pod": [("delete", "", "pods", "", namespace)],
        "scale-down": [("patch", "apps", plural, "scale", namespace)],
        "liveness-restart": [("create", "", "pods", "proxy", namespace)],
        "node-drain": [
            ("create", "", "pods", "eviction", namespace),
            ("get", "", "nodes", "", ""),
            ("list", "", "nodes", "", ""),
            ("patch", "", "nodes", "", ""),
        ],
    }.get(scenario, [])
    access = [
        {"verb": v, "group": g, "resource": r, "subresource": sub, "namespace": n}
        for v, g, r, sub, n in dict.fromkeys(need)
    ]
    if agent:  # the in-cluster load agent may be used (--load-from auto or agent): verify/agent.py
        from hitless.verify.agentpod import agent_access

        extra = [{"subresource": "", **a} for a in agent_access(namespace, own_namespace)]
        access += [a for a in extra if a not in access]
    return access


async def missing_access(client: KubeClient, need: list[dict[str, str]]) -> list[str]:
    answers = await asyncio.gather(
        *(
            client.can_i(a["verb"], a["resource"], a["group"], a["namespace"], a.get("subresource", ""))
            for a in need
        )
    )
    return [
        f"{a['verb']} {a['resource']}{'/' + a['subresource'] if a.get('subresource') else ''}"
        f"{'.' + a['group'] if a['group'] else ''}"
        + (f" in namespace {a['namespace']}" if a["namespace"] else " (cluster-scoped)")
        for a, ok in zip(need, answers, strict=True)
        if not ok
    ]


def path(kind: str, namespace: str, name: str = "") -> str:
    res = by_kind(kind)
    if res is None:
        raise ClusterError(f"kind {kind} is not known to hitless")
    base = f"/api/{res.version}" if not res.group else f"/apis/{res.group}/{res.version}"
    if res.namespaced:
        base += f"/namespaces/{namespace}"
    return f"{base}/{res.plural}" + (f"/{name}" if name else "")


async def apply(client: KubeClient, loaded: Sequence[LoadedObject], namespace: str, dry_run: bool) -> None:
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
                path(item.kind, namespace, item.name),
                query=query,
                body=body,
                content_type="application/apply-patch+yaml",
            )
        except ApiError as exc:
            # Refused on the dry run: the input is wrong for this cluster (webhooks, quota, Pod
            # Security), judged before anything of it exists: exit 2, as local validation.
            error = PreflightError if dry_run else ClusterError
            raise error(f"{item.file}:{item.line}: {item.kind}/{item.name}: {exc.message}") from exc


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


class Watched:
    """The run's reflectors and a wake-up for whoever waits on what they show."""

    def __init__(
        self,
        client: KubeClient,
        clock: Clock,
        namespace: str,
        selector: str,
        service: str,
        workload: str = "Deployment",
    ) -> None:
        self.view = ClusterView(namespace, clock=clock)
        self.changed = asyncio.Event()
        ns = f"/namespaces/{namespace}"
        self.deployments = Reflector(client, f"/apis/apps/v1{ns}/deployments", clock, self._wake)
        # The workload's own kind: its rollout status is judged from it (cluster_scenarios.py).
        self.workloads = self.deployments
        if workload in ("StatefulSet", "DaemonSet"):
            self.workloads = Reflector(client, path(workload, namespace), clock, self._wake)
        # The view's own watches, the same the in-cluster load agent runs (verify/agentwatch.py).
        self.reflectors = [
            *view_reflectors(
                client, clock, namespace, selector, service, self._pod, self._slice, self._event
            ),
            self.deployments,
        ]
        if self.workloads is not self.deployments:
            self.reflectors.append(self.workloads)
        self.tasks: list[asyncio.Task[None]] = []
        # Pods whose Events are not the workload's (the load agent's: verify/agent.py).
        self.ignored: set[str] = set()

    def _wake(self, kind: str, obj: JSON, at: float) -> None:
        self.changed.set()

    def _pod(self, kind: str, obj: JSON, at: float) -> None:
        self.view.on_pod(kind, obj, at)
        self.changed.set()

    def _slice(self, kind: str, obj: JSON, at: float) -> None:
        self.view.on_slice(kind, obj, at)
        self.changed.set()

    def _event(self, kind: str, obj: JSON, at: float) -> None:
        # Each occurrence into its pod's life; a Killing of a pod not deleted is a restart. The
        # load agent's own Events are no workload pod's.
        if (obj.get("involvedObject") or {}).get("name") not in self.ignored:
            self.view.on_event(kind, obj, at)

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


async def answers(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


async def pick_target(
    client: KubeClient, namespace: str, name: str, patience: float = WARM_UP_TIMEOUT
) -> tuple[str, int, str]:
    """The first of LoadBalancer, NodePort, ClusterIP that accepts a connection from here."""
    svc = await client.request("GET", path("Service", namespace, name))
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
    deadline = asyncio.get_running_loop().time() + patience
    while asyncio.get_running_loop().time() < deadline:
        # All at once (a firewalled address takes the whole connect timeout), the first in order wins.
        ok = await asyncio.gather(*(answers(h, p) if h else _no() for h, p, _ in tried))
        for (host, p, how), answered in zip(tried, ok, strict=True):
            if answered:
                return host, p, how
        await asyncio.sleep(0.2)
    where = ", ".join(f"{h}:{p} ({how})" for h, p, how in tried) or "no address"
    raise ClusterError(
        f'Service "{name}" does not answer from this machine ({where}) and --load-from runner '
        "forbids the in-cluster load agent (--load-from agent or auto); port-forward or the API "
        "server's service proxy would bypass kube-proxy"
    )


async def _no() -> bool:
    return False


async def warm_up(watched: Watched, opts: VerifyOptions, host: str, port: int, clock: Clock) -> bool:
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


async def restart(client: KubeClient, namespace: str, name: str, kind: str = "Deployment") -> int:
    """What ``kubectl rollout restart`` sends (to a Deployment, StatefulSet or DaemonSet alike:
    kubectl/pkg/polymorphichelpers/objectrestarter.go); the workload's new generation."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}}
    answer = await client.request(
        "PATCH",
        path(kind, namespace, name),
        query={"fieldManager": "kubectl-rollout"},
        body=patch,
        content_type="application/strategic-merge-patch+json",
    )
    return int(answer.get("metadata", {}).get("generation", 0))
