"""Where cluster mode's load comes from (``--load-from``), and the in-cluster load agent's runner side.

From this machine when the Service's LoadBalancer, a NodePort or its ClusterIP answers here
(verify/cluster_steps.py ``pick_target``); otherwise (``--load-from agent``, or ``auto`` with no
address answering) from a bare Pod in the run's namespace (clusters.md §3.2, the sonobuoy
pattern) that runs ``hitless agent load`` (cli/agent.py): the same load generator, against the
Service's ClusterIP, so the requests take the path in-cluster clients take (their node's
kube-proxy). The agent prints one JSON line per finished request (verify/agentwire.py); the
runner follows ``pods/NAME/log?follow=true`` and turns the lines back into RequestResults on its
own clock, which the same blame reads. :class:`AgentLoad` has the LoadGenerator's interface
(run, stop, drain, cancel, results), so the scenario loop does not know which it drives.

The agent also runs the view's watches (clusters.md: one clock for requests and observations):
the run gives its pod a ServiceAccount, a Role of exactly what those watches send and a RoleBinding
(verify/agentrbac.py); the agent lists and watches with the pod's in-cluster config through the
runner's own code (verify/agentwatch.py) and prints each event beside its requests; the runner
builds the blame's view from them, mapped as the requests are (verify/agentview.py), and keeps its
own watches for driving the scenario. An agent that cannot watch (access refused, no token, a
watch failed) says so and the runner's view is blamed from; ``cluster.agent.watches`` tells which.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from typing import Any, Protocol

import aiohttp

from hitless.api.types.service import Service
from hitless.clock import Clock, RealClock
from hitless.kube.client import ApiError, KubeClient
from hitless.tasks import spawn
from hitless.verify import agentrbac

# Re-exported: the CLI's report (emit.py) and the tests name them here.
from hitless.verify.agentpod import AGENT_LABEL as AGENT_LABEL
from hitless.verify.agentpod import CONTAINER, WATCH_TIMEOUT, agent_pod, default_image
from hitless.verify.agentpod import agent_access as agent_access
from hitless.verify.agentpod import agent_summary as agent_summary
from hitless.verify.agentview import AgentWatchLog
from hitless.verify.agentwire import ClockMap, ahead, boot_id, decode, move
from hitless.verify.cluster_steps import (
    SETTLE_TIMEOUT,
    WARM_UP_TIMEOUT,
    ClusterError,
    Watched,
    pick_target,
    warm_up,
)
from hitless.verify.clusterrecord import ClusterView
from hitless.verify.generator import LoadGenerator, LoadOptions, RequestResult
from hitless.verify.options import ClusterTarget, VerifyOptions

# --load-from auto: how long this machine's addresses get to answer before the agent is used.
AUTO_PATIENCE = 5.0
# A log stream silent this long is taken for dead (the agent prints a line per request; only a
# drain of requests that all hang is longer, and that ends by --timeout).
LOG_IDLE_TIMEOUT = 60.0
RECONNECTS = 3
# Waiting reasons after which the agent's container will not start by itself.
STUCK = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError",
         "CreateContainerError", "RunContainerError"}  # fmt: skip


class Load(Protocol):
    """What the scenario loop drives: a LoadGenerator here, or the agent in the cluster."""

    results: list[RequestResult]

    async def run(self) -> None: ...

    def stop(self) -> None: ...

    async def drain(self, timeout: float | None = None) -> None: ...

    async def cancel(self) -> None: ...


async def start_load(
    client: KubeClient,
    opts: VerifyOptions,
    namespace: str,
    service: Service,
    watched: Watched,
    clock: Clock,
    info: dict[str, Any],
) -> Load:
    """The load, warmed up (every Ready pod answered once) and ready to run."""
    cluster = opts.cluster or ClusterTarget()
    why = "--load-from agent"
    if cluster.load_from != "agent":
        patience = AUTO_PATIENCE if cluster.load_from == "auto" else WARM_UP_TIMEOUT
        try:
            host, port, how = await pick_target(client, namespace, service.name, patience)
        except ClusterError as exc:
            if cluster.load_from == "runner":
                raise
            why = str(exc).split(" and --load-from", 1)[0]  # which addresses were tried
        else:
            info["target"] = {"address": f"{host}:{port}", "through": how, "from": "runner"}
            if not await warm_up(watched, opts, host, port, clock):
                raise ClusterError(
                    f"not every Ready pod answered through {host}:{port} within {WARM_UP_TIMEOUT:.0f} s"
                )
            return LoadGenerator(
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
    svc = await client.request("GET", f"/api/v1/namespaces/{namespace}/services/{service.name}")
    ip = svc.get("spec", {}).get("clusterIP")
    port = (svc.get("spec", {}).get("ports") or [{}])[0].get("port")
    if not ip or ip == "None" or not port:
        raise ClusterError(f'Service "{service.name}" has no ClusterIP and port for the load agent to load')
    target = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
    info["target"] = {"address": target, "through": "ClusterIP", "from": "agent"}
    warm = sorted(
        life.name
        for life in watched.view.timeline.pods.values()
        if life.ready_at(clock.now()) and life.deleted is None and life.gone is None
    )
    image = cluster.agent_image or default_image()
    run_id = str(info.get("runId", "run"))
    name = f"hitless-agent-{run_id}"
    load = AgentLoad(client, namespace, name, clock)
    load.own_namespace = cluster.namespace is None
    watched.ignored.add(load.name)  # its Events are no workload pod's
    info["agent"] = load.info
    load.info["image"] = image
    load.info["why"] = why
    try:
        # Its watches' access; refused (RBAC, admission), it loads and the runner's view is used.
        labels = {AGENT_LABEL: run_id, "app.kubernetes.io/managed-by": "hitless"}
        try:
            await agentrbac.create(client, name, namespace, labels, load.access)
        except (ApiError, aiohttp.ClientError, TimeoutError) as exc:
            load.info["watchesNot"] = f"its ServiceAccount, Role or RoleBinding was refused: {exc}"
        watch = None if "watchesNot" in load.info else (namespace, service.name)
        pod = agent_pod(name, image, run_id, service.spec.selector or {}, target, opts, warm, watch)
        await load.start(pod)
    except BaseException:
        # Also what was created of its access, with --namespace (stop() deletes it after the pod).
        await load.cancel()
        raise
    return load


class AgentLoad:
    """The agent pod's requests, read from its log onto this machine's clock."""

    def __init__(self, client: KubeClient, namespace: str, name: str, clock: Clock) -> None:
        self.client = client
        self.namespace = namespace
        self.name = name
        self.clock = clock
        self.results: list[RequestResult] = []
        self.overload: str | None = None
        self.info: dict[str, Any] = {"pod": name}
        self._pod = f"/api/v1/namespaces/{namespace}/pods/{name}"
        self._arrivals: list[float] = []
        self._seen: set[int] = set()
        self._map: ClockMap | None = None
        self._by = 0.0  # what _correct moved the mapped times back by
        self._resp: aiohttp.ClientResponse | None = None
        self._ended = False
        self._created = False
        self._phase: str | None = None
        self._printed: int | None = None
        self._deleting: asyncio.Task[None] | None = None
        self.watches = AgentWatchLog()
        # The agent's ServiceAccount, Role, RoleBinding created (deleted after it with --namespace).
        self.access: list[str] = []
        self.own_namespace = True
        # The last lines that were not the agent's protocol (a traceback, an image's own output).
        self._other: deque[str] = deque(maxlen=8)

    # --- the LoadGenerator's interface -----------------------------------------------------------

    async def start(self, pod: dict[str, Any]) -> None:
        """Create the pod, follow its log, and wait until it is warmed up and loading."""
        await self.client.request("POST", f"/api/v1/namespaces/{self.namespace}/pods", body=pod)
        self._created = True
        try:
            await self._started()
        except TimeoutError:
            raise ClusterError(
                f"the load agent's pod {self.name} did not start within {SETTLE_TIMEOUT:.0f} s "
                f"(phase {self._phase})"
            ) from None
        self._resp = await self._follow()
        try:
            async with asyncio.timeout(WATCH_TIMEOUT + WARM_UP_TIMEOUT + 10):
                while self._map is None:
                    line = await self._next()
                    if line is None:
                        raise ClusterError(
                            f"the load agent (pod {self.name}) ended before it was ready{self._said()}"
                        )
                    self._take(line)
        except TimeoutError:
            raise ClusterError(
                f"the load agent (pod {self.name}) was not ready in time{self._said()}"
            ) from None

    async def run(self) -> None:
        """Read the agent's requests until its log ends (after :meth:`stop`, when it exited)."""
        reconnects = 0
        while True:
            line = await self._next()
            if line is not None:
                self._take(line)
                continue
            if self._ended or reconnects >= RECONNECTS:
                break
            # The stream broke before the agent's "end": read the log again from its start (the
            # requests already read are skipped by their seq).
            reconnects += 1
            try:
                self._resp = await self._follow()
            except (ApiError, aiohttp.ClientError, TimeoutError):
                break
        self.info["reconnects"] = reconnects
        # seq counts every request the agent sent: one never read (a log the kubelet rotated away
        # before a re-read, or an agent killed before it printed) is a hole in the sequence.
        unread = (max(self._seen) + 1 - len(self._seen)) if self._seen else 0
        if self._printed is not None:
            unread = max(unread, self._printed - len(self._seen))
        if unread:
            self.info["unread"] = unread
        if not self._ended:
            self.info["truncated"] = f"the agent's log ended before its end line{self._said()}"
        self._correct()

    def stop(self) -> None:
        """Delete the pod: its SIGTERM stops the agent, which finishes and prints its last lines."""
        if self._deleting is None and (self._created or self.access):
            self._deleting = spawn("agent-delete", self._delete())

    async def drain(self, timeout: float | None = None) -> None:
        # run() returned when the agent's log ended: nothing is in flight any more.
        if self._deleting is not None:
            await self._deleting

    async def cancel(self) -> None:
        """Stop reading and make sure the pod is deleted (also when the run is cancelled)."""
        if self._resp is not None:
            self._resp.close()
        self.stop()
        if self._deleting is not None:
            await asyncio.shield(self._deleting)

    # --- internals -------------------------------------------------------------------------------

    async def _delete(self) -> None:
        try:
            if self._created:
                await self.client.request("DELETE", self._pod)
        except ApiError as exc:
            if exc.code != 404:
                raise ClusterError(f"could not delete the load agent's pod {self.name}: {exc}") from exc
        finally:
            if not self.own_namespace and self.access:
                # In the user's namespace nothing else deletes them (after the pod: its watches
                # run until it ends; a pod deleted now keeps running out its grace period).
                if left := await agentrbac.delete(self.client, self.access):
                    self.info["accessLeft"] = left
                self.access = []

    def view(self, namespace: str, ignored: set[str]) -> tuple[ClusterView, list[dict[str, Any]]] | None:
        """The agent's watch view and its gaps on this clock, or None (why in ``watchesNot``)."""
        if "watchesNot" not in self.info and (why := self.watches.usable(self._ended)) is not None:
            self.info["watchesNot"] = why
        self.info["watches"] = "watchesNot" not in self.info and self._map is not None
        self.info["watchEvents"] = self.watches.counts()
        if not self.info["watches"] or self._map is None:
            return None
        offset = self._map.offset - self._by
        gaps = self.watches.mapped_gaps(offset)
        self.info["gaps"] = len(gaps)
        return self.watches.view(namespace, self.clock, offset, ignored), gaps

    async def _started(self) -> None:
        """Until the container runs (or ran); a pull or start error that will not pass is an error."""
        async with asyncio.timeout(SETTLE_TIMEOUT):
            while True:
                pod = await self.client.request("GET", self._pod)
                self.info["node"] = pod.get("spec", {}).get("nodeName")
                self.info["podIP"] = pod.get("status", {}).get("podIP")
                self._phase = pod.get("status", {}).get("phase")
                for st in pod.get("status", {}).get("containerStatuses") or []:
                    state = st.get("state") or {}
                    if "running" in state or "terminated" in state:
                        return
                    reason = (state.get("waiting") or {}).get("reason")
                    if reason in STUCK:
                        message = (state.get("waiting") or {}).get("message", "")
                        raise ClusterError(
                            f"the load agent's container cannot start: {reason}: {message} (image "
                            f"{self.info.get('image')}: build it from the Dockerfile and load it into "
                            "the cluster, or name one with --agent-image)"
                        )
                if pod.get("status", {}).get("phase") in ("Failed", "Succeeded"):
                    return
                await asyncio.sleep(0.2)

    async def _follow(self) -> aiohttp.ClientResponse:
        return await self.client.watch_lines(
            f"{self._pod}/log", {"container": CONTAINER, "follow": "true"}, LOG_IDLE_TIMEOUT
        )

    async def _next(self) -> dict[str, Any] | None:
        """The next protocol line; None at the end of the stream or when it broke."""
        while self._resp is not None:
            try:
                raw = await self._resp.content.readline()
            except (aiohttp.ClientError, TimeoutError, ValueError):
                raw = b""
            if not raw:
                self._resp.release()
                self._resp = None
                return None
            text = raw.decode(errors="replace").strip()
            try:
                line = json.loads(text)
            except ValueError:
                line = None
            if isinstance(line, dict) and isinstance(line.get("type"), str):
                return line
            if text:
                self._other.append(text)
        return None

    def _take(self, line: dict[str, Any]) -> None:
        kind = line["type"]
        if self.watches.take(line):
            return
        if kind == "request" and self._map is not None:
            r = decode(line, self._map.offset)
            if r.seq not in self._seen:
                self._seen.add(r.seq)
                self.results.append(r)
                self._arrivals.append(self.clock.now())
        elif kind == "ready" and self._map is None:
            runner_boot = boot_id() if isinstance(self.clock, RealClock) else ""
            self._map = ClockMap.of(line, self.clock.now(), self.clock.wall().timestamp(), runner_boot)
            self.info["clock"] = {"mapping": self._map.how}
        elif kind == "warm-up":
            self.info["warmedUp"] = line.get("answered")
        elif kind == "end":
            self._ended = True
            self._printed = int(line.get("requests") or 0)
            self.overload = line.get("overload")
            if self.overload:
                self.info["overload"] = self.overload
        elif kind == "error":
            raise ClusterError(f"the load agent (pod {self.name}): {line.get('message')}")

    def _correct(self) -> None:
        """Move the mapped times back by what the log's arrival times prove they are ahead."""
        if self._map is None:
            return
        by = ahead(list(zip(self.results, self._arrivals, strict=True)))
        if by > 0:
            for r in self.results:
                move(r, -by)
        self.info["clock"]["corrected"] = round(-by, 6) + 0.0  # never -0.0
        self._by = by

    def _said(self) -> str:
        return ("; its last lines: " + " | ".join(self._other)) if self._other else ""
