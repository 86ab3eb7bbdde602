"""The engine: one store, a scheduler and a kubelet per emulated node, over one runtime.

This is the cluster in miniature that ``hitless up`` (and later ``hitless verify``) runs. It
wires components together and owns the run's lifecycle; the components themselves only talk
through the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import os
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from hitless.api.types.apps import Deployment
from hitless.api.types.job import Job
from hitless.api.types.meta import K8sObject
from hitless.api.types.pod import Pod
from hitless.clock import Clock
from hitless.controllers.cronjob import CronJobController
from hitless.controllers.daemonset import DaemonSetController
from hitless.controllers.deployment import DeploymentController
from hitless.controllers.disruption import DisruptionController
from hitless.controllers.endpointslice import EndpointSliceController
from hitless.controllers.garbagecollector import GarbageCollector
from hitless.controllers.job import JobController
from hitless.controllers.job_util import is_finished as is_job_finished
from hitless.controllers.replicaset import ReplicaSetController
from hitless.controllers.scheduler import Scheduler
from hitless.controllers.statefulset import StatefulSetController
from hitless.controllers.volumebinding import LOCAL_PATH_DIR, VolumeBinder
from hitless.dns.server import ClusterDNS
from hitless.kubelet.capacity import node_max_pods, raise_open_file_limit
from hitless.kubelet.images import ImageService
from hitless.kubelet.kubelet import Kubelet
from hitless.kubelet.volumes.manager import VolumeOptions
from hitless.proxy.claims import Claim, claim_address_block
from hitless.proxy.defaults import DEFAULT_PRESET, MIN_SYNC_PERIOD_S, WATCH_LATENCY_S, Preset
from hitless.proxy.loadbalancer import LoadBalancer
from hitless.proxy.node import NodeProxy, ProxyOptions
from hitless.proxy.owner import host_listens
from hitless.proxy.records import ConnectionLog
from hitless.runtime.cri import RuntimeService
from hitless.runtime.network import PodNetwork
from hitless.store.allocator import CLUSTER_DNS_IP
from hitless.store.apply import Applier, ApplyResult, rollout_restart, rollout_restart_workload, scale
from hitless.store.eviction import evict
from hitless.store.store import NotFound, Store


def tune_gc() -> None:
    """Keep the collector's pauses out of probe timing; call once, after start-up.

    Everything imported so far (pydantic's schemas, the OpenAPI schemas, the modules) is moved
    out of the collector's sight, and the young generation is collected less often: the engine
    makes little cyclic garbage, but many short-lived objects, and each collection of a large old
    generation stalls the event loop for tens of milliseconds (measured: bench/bench_probes.py).
    """
    gc.freeze()
    gc.set_threshold(10_000, 50, 100)


def run_ahead_of_pods() -> str | None:
    """Let the event loop's thread take a CPU ahead of the pods' processes; None when it does,
    else why not. Call once, from the thread that runs the event loop, after start-up.

    On a node the kubelet and kube-proxy do not wait behind the pods for a CPU (system-reserved
    CPU, their own cgroups). Here they share the event loop with everything else the engine does,
    and the pods' processes, which each probe and each proxied request wakes, take the CPU from it:
    at 600 probes/s on 2 CPUs the loop's thread waited 150-260 ms of every second for a CPU and
    probes started 28-32 ms late (p99); with this, 1-4 ms and 2-9 ms (bench/bench_probes.py).

    SCHED_FIFO at the lowest real-time priority, with SCHED_RESET_ON_FORK so that threads and
    processes started from now on (sandbox threads, containers, exec probes) are ordinary ones.
    The kernel's real-time throttling still leaves the pods 5 % of that CPU should the loop spin,
    and with fewer than 2 CPUs nothing is changed: the loop, when busy, would have the only one.
    Needs CAP_SYS_NICE (root) or an RLIMIT_RTPRIO; without, the engine runs as before.
    """
    if len(os.sched_getaffinity(0)) < 2:
        return "fewer than 2 CPUs"
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO | os.SCHED_RESET_ON_FORK, os.sched_param(1))
    except OSError as exc:
        return f"sched_setscheduler: {os.strerror(exc.errno or 0)}"
    return None


def node_address(index: int, prefix: str = "127.0.1.") -> str:
    """Node N (1-based) lives at 127.0.1.N."""
    return f"{prefix}{index}"


@dataclass
class EngineOptions:
    nodes: int = 2
    log_dir: Path = field(default_factory=lambda: Path("/tmp/hitless-logs"))
    images: ImageService = field(default_factory=ImageService)
    # Jitter of the kubelet's 10 s sync retry; None keeps the kubelet's 0.5.
    retry_jitter: float | None = None
    seed: int | None = None
    # Service traffic (docs/architecture.md, "Nodes and traffic"). propagation_delay None is
    # kube-proxy's model: watch_latency, then a sync at most every min_sync_period (burst 2);
    # a number is a fixed delay from each endpoint change to every node's proxy.
    propagation_delay: float | None = None
    watch_latency: float = WATCH_LATENCY_S
    min_sync_period: float = MIN_SYNC_PERIOD_S
    # False: no serving-terminating fallback (KEP-1669), kube-proxy before 1.26.
    serving_terminating_fallback: bool = True
    # The load balancer's health-check preset: "gce", "aws-nlb" or a Preset of one's own
    # (proxy/loadbalancer.py), e.g. shorter intervals for a test.
    load_balancer: str | Preset = DEFAULT_PRESET
    # Where nodes (prefix + N) and load balancers live. None: 127.0.1. and 127.0.2., or the first
    # free pair after them when another engine on this host holds those (proxy/claims.py).
    node_address_prefix: str | None = None
    load_balancer_address_prefix: str | None = None
    # The kubelets' volume manager: how soon an edited ConfigMap or Secret reaches mounted files
    # (None: the kubelet's syncFrequency, 1 min, with the pod worker's jitter).
    volumes: VolumeOptions | None = None
    # Each node's allocatable pods; None: the kubelet's 110, or the node's share of what this
    # machine can run when that is less (kubelet/capacity.py).
    max_pods: int | None = None
    # Cluster DNS (dns/) and the kubelets' resolv.conf pointing at it; off: pods keep the host's.
    cluster_dns: bool = True


class Engine:
    def __init__(self, runtime: RuntimeService, clock: Clock, options: EngineOptions | None = None) -> None:
        self.options = options or EngineOptions()
        # Held until stop(), so that an engine started meanwhile takes other blocks (claims.py).
        self._address_claim: Claim | None = None
        if self.options.node_address_prefix is None or self.options.load_balancer_address_prefix is None:
            nodes, balancers, self._address_claim = claim_address_block()
            self.options.node_address_prefix = self.options.node_address_prefix or nodes
            self.options.load_balancer_address_prefix = self.options.load_balancer_address_prefix or balancers
        self.clock = clock
        self.runtime = runtime
        if self.options.max_pods is None:
            raise_open_file_limit()
        self.max_pods = self.options.max_pods or node_max_pods(self.options.nodes)
        self.store = Store(clock, seed=self.options.seed)
        # A dynamic nodePort skips a port that something on the host listens on at a node's
        # address or the wildcard (the proxies could not listen there).
        node_addresses = [
            node_address(i, self.options.node_address_prefix) for i in range(1, self.options.nodes + 1)
        ]
        self.store.services.host_listens = functools.partial(host_listens, node_addresses)
        self.network = PodNetwork(runtime)
        self.scheduler = Scheduler(self.store, clock)
        self.deployments = DeploymentController(self.store, clock)
        self.replicasets = ReplicaSetController(self.store, clock)
        self.garbage_collector = GarbageCollector(self.store)
        self.statefulsets = StatefulSetController(self.store, clock)
        self.daemonsets = DaemonSetController(self.store, clock)
        self.jobs = JobController(self.store, clock)
        self.cronjobs = CronJobController(self.store, clock)
        self.volume_binder = VolumeBinder(self.store, clock, self.options.log_dir / LOCAL_PATH_DIR)
        self.disruption = DisruptionController(self.store, clock)
        self.applier = Applier(self.store)
        rng = random.Random(self.options.seed)
        # Its own random source, so that adding Services does not change the kubelets' draws.
        net_rng = random.Random(None if self.options.seed is None else self.options.seed + 1)
        self.connections = ConnectionLog()
        self.endpointslices = EndpointSliceController(self.store, clock)
        proxy_options = ProxyOptions(
            watch_latency=self.options.watch_latency,
            min_sync_period=self.options.min_sync_period,
            propagation_delay=self.options.propagation_delay,
            serving_terminating_fallback=self.options.serving_terminating_fallback,
        )
        # The host plays a process on node-1: its ClusterIP traffic goes through node-1's proxy.
        self.proxies = [
            NodeProxy(
                f"node-{i}",
                node_address(i, self.options.node_address_prefix),
                clock,
                self.store,
                self.network,
                self.connections,
                proxy_options,
                rng=random.Random(net_rng.random()),
                serves_cluster_ips=i == 1,
            )
            for i in range(1, self.options.nodes + 1)
        ]
        self.load_balancer = LoadBalancer(
            clock,
            self.store,
            self.network,
            self.connections,
            [(p.node, p.address) for p in self.proxies],
            self.options.load_balancer,
            rng=random.Random(net_rng.random()),
            options=proxy_options,
            address_prefix=self.options.load_balancer_address_prefix,
        )
        # What serves pods inside their namespaces: the cluster DNS first (its redirects are the
        # more specific), then each node's ClusterIP rules for the pods on that node.
        self.dns: ClusterDNS | None = None
        if self.options.cluster_dns:
            self.dns = ClusterDNS(self.store, self.network, CLUSTER_DNS_IP)
            self.network.add_attacher(self.dns)
        for proxy in self.proxies:
            self.network.add_attacher(proxy.pod_frontends)
        self.kubelets = [
            Kubelet(
                f"node-{i}",
                node_address(i, self.options.node_address_prefix),
                clock,
                self.store,
                runtime,
                self.network,
                self.options.images,
                self.options.log_dir,
                rng=random.Random(rng.random()),
                retry_jitter=self.options.retry_jitter,
                volume_options=self.options.volumes,
                max_pods=self.max_pods,
                cluster_dns=[CLUSTER_DNS_IP] if self.dns is not None else None,
            )
            for i in range(1, self.options.nodes + 1)
        ]

    def set_sync_frequency(self, seconds: float) -> None:
        """The kubelets' --sync-frequency: how often they refresh API-sourced volumes."""
        for kubelet in self.kubelets:
            kubelet.volumes.options.sync_period = seconds

    async def start(self) -> None:
        for kubelet in self.kubelets:
            kubelet.start()
        self.scheduler.start()
        self.replicasets.start()
        self.deployments.start()
        self.statefulsets.start()
        self.daemonsets.start()
        self.jobs.start()
        self.cronjobs.start()
        self.garbage_collector.start()
        self.volume_binder.start()
        self.disruption.start()
        self.endpointslices.start()
        for proxy in self.proxies:
            proxy.start()
        if self.dns is not None:
            self.dns.start()
        self.load_balancer.start()
        await asyncio.sleep(0)

    def apply(self, objects: Iterable[K8sObject]) -> list[K8sObject]:
        """Create the manifests' objects. One the control plane already made (with ``--api``: a
        system namespace, a namespace's ``default`` ServiceAccount) is applied over it, as
        ``kubectl apply`` would."""
        out: list[K8sObject] = []
        for obj in self.applier.remember(objects):
            if self.store.get(*obj.key) is None:
                out.append(self.store.create(obj))
                continue
            result = self.applier.apply([obj], prune=False)
            if result.errors:
                raise ValueError("; ".join(result.errors))
            out.extend(result.objects)
        return out

    def reapply(self, objects: Iterable[K8sObject]) -> ApplyResult:
        """``kubectl apply --prune`` of the manifests as they are now (store/apply.py)."""
        return self.applier.apply(objects)

    def rollout_restart(self, namespace: str, name: str) -> Deployment:
        """``kubectl rollout restart deployment/NAME``."""
        return rollout_restart(self.store, self.clock, namespace, name)

    def rollout_restart_workload(self, kind: str, namespace: str, name: str) -> K8sObject:
        """``kubectl rollout restart statefulset/NAME`` (or daemonset/, deployment/)."""
        return rollout_restart_workload(self.store, self.clock, kind, namespace, name)

    def scale(self, namespace: str, name: str, replicas: int) -> Deployment:
        """``kubectl scale deployment/NAME --replicas=N``."""
        return scale(self.store, namespace, name, replicas)

    def evict(self, namespace: str, name: str) -> Pod:
        """The Eviction API (store/eviction.py): EvictionRefused when a budget forbids it."""
        return evict(self.store, self.clock, namespace, name)

    def pods(self) -> list[Pod]:
        return self.store.pods()

    def all_pods_finished(self) -> bool:
        pods = self.store.pods()
        # A Job still running may create more pods (a retry after its back-off), a CronJob always.
        if self.store.count("CronJob") or any(
            isinstance(j, Job) and is_job_finished(j) is None for j in self.store.objects("Job")
        ):
            return False
        return bool(pods) and all(p.status.phase in ("Succeeded", "Failed") for p in pods)

    async def delete_all_pods(self, grace_period_seconds: int | None = None) -> None:
        """Delete every pod gracefully, each by its own spec, and wait until all are gone.

        The Deployment and ReplicaSet controllers stop first, or they would replace the pods."""
        await self.deployments.stop()
        await self.replicasets.stop()
        await self.statefulsets.stop()
        await self.daemonsets.stop()
        await self.cronjobs.stop()
        await self.jobs.stop()
        for pod in self.store.pods():
            with contextlib.suppress(NotFound):
                self.store.delete("Pod", pod.namespace, pod.name, grace_period_seconds)
        await self.wait_idle()

    async def wait_idle(self) -> None:
        await asyncio.gather(*(k.wait_idle() for k in self.kubelets))

    def kill_now(self) -> None:
        for kubelet in self.kubelets:
            kubelet.kill_now()

    async def stop(self) -> None:
        await self.deployments.stop()
        await self.replicasets.stop()
        await self.statefulsets.stop()
        await self.daemonsets.stop()
        await self.cronjobs.stop()
        await self.jobs.stop()
        await self.garbage_collector.stop()
        await self.volume_binder.stop()
        await self.disruption.stop()
        await self.scheduler.stop()
        await self.load_balancer.stop()
        for proxy in self.proxies:
            await proxy.stop()
        if self.dns is not None:
            await self.dns.stop()
        await self.endpointslices.stop()
        for kubelet in self.kubelets:
            await kubelet.stop()
        await self.runtime.shutdown()
        if self._address_claim is not None:
            self._address_claim.release()
