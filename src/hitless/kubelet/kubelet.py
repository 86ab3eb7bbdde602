"""The kubelet of one emulated node: registers the Node, runs a worker per pod bound to it.

It reacts to the store as the real kubelet reacts to the API server: a pod bound to this node
gets a worker; an update with a ``deletionTimestamp`` starts termination with the deletion
grace period; a pod removed from the API (a force delete) is still terminated, with the grace
period its last version carries (0, so 1 s and the 2 s container floor). A worker is forgotten
once its pod is gone from the API and it has terminated (the kubelet's housekeeping).
"""

from __future__ import annotations

import asyncio
import contextlib
import platform
import random
from collections.abc import Callable
from pathlib import Path

from hitless import KUBERNETES_VERSION, __version__
from hitless.api.types.config import Secret
from hitless.api.types.meta import ObjectMeta
from hitless.api.types.node import Node, NodeAddress, NodeCondition, NodeStatus, NodeSystemInfo
from hitless.api.types.pod import Pod, PodStatus, Probe
from hitless.api.types.service import Service
from hitless.clock import Clock
from hitless.controllers.volumebinding import LOCAL_PATH_DIR, NotBound, claim_path
from hitless.kubelet.capacity import MAX_PODS
from hitless.kubelet.container_config import ContainerSources
from hitless.kubelet.containers import ContainerManager
from hitless.kubelet.dns import Configurer
from hitless.kubelet.eviction import EvictionManager
from hitless.kubelet.hooks import HandlerRunner
from hitless.kubelet.images import ImageService
from hitless.kubelet.pod_worker import PodWorker
from hitless.kubelet.prober.manager import ProbeManager
from hitless.kubelet.prober.prober import KubeletProber
from hitless.kubelet.prober.probers import Prober, ProberDeps, probers_for
from hitless.kubelet.syncer import KubeletContext
from hitless.kubelet.volumes.manager import VolumeManager, VolumeOptions
from hitless.kubelet.volumes.node import StoreConfigObjects, node_allocatable
from hitless.kubelet.volumes.plugins import NotReady, VolumeHost
from hitless.kubelet.volumes.tmpfs import available as tmpfs_available
from hitless.runtime.cri import RuntimeService
from hitless.runtime.network import PodNetwork
from hitless.store.events import WARNING, EventRecorder
from hitless.store.store import AlreadyExists, Store, WatchEvent
from hitless.store.strategy import TERMINAL_PHASES
from hitless.tasks import spawn


class Kubelet:
    def __init__(
        self,
        node_name: str,
        host_ip: str,
        clock: Clock,
        store: Store,
        runtime: RuntimeService,
        network: PodNetwork,
        images: ImageService,
        log_root: Path,
        rng: random.Random | None = None,
        retry_jitter: float | None = None,
        probers: Callable[[Probe], Prober | None] | None = None,
        volume_options: VolumeOptions | None = None,
        state_dir: Path | None = None,
        max_pods: int = MAX_PODS,
        cluster_dns: list[str] | None = None,
    ) -> None:
        self.node_name = node_name
        # --max-pods: the node's capacity and allocatable pods (kubelet/capacity.py).
        self.max_pods = max_pods
        self.host_ip = host_ip
        self._store = store
        recorder = EventRecorder(store, clock, "kubelet", node_name)
        rng = rng or random.Random()
        choose = probers or probers_for(ProberDeps(network, runtime, clock))
        self.probes = ProbeManager(
            self._probe_changed,
            clock=clock,
            prober=KubeletProber(choose, recorder),
            pod_status=self._pod_status,
            rng=random.Random(rng.random()),
            node=node_name,
        )
        hooks = HandlerRunner(runtime, network, clock)
        # The kubelet's root directory (/var/lib/kubelet): pods/<uid>/volumes/... for this node.
        root = state_dir or log_root / "kubelet" / node_name
        self._claims_dir = log_root / LOCAL_PATH_DIR
        allocatable = node_allocatable(log_root)
        self.volumes = VolumeManager(
            VolumeHost(
                pods_dir=root / "pods",
                objects=StoreConfigObjects(store),
                allocatable=allocatable,
                tmpfs=tmpfs_available(),
                wall=clock.wall,
                claim_path=self._claim_path,
            ),
            clock,
            recorder,
            volume_options,
            random.Random(rng.random()),
        )
        sources = ContainerSources(
            self.volumes.host.objects,
            allocatable,
            self.volumes,
            services=lambda: [s for s in store.objects("Service") if isinstance(s, Service)],
        )
        self.containers = ContainerManager(runtime, images, hooks, clock, recorder, sources)
        self.containers.get_secret = lambda namespace, name: store.get_typed(
            Secret, "Secret", namespace, name
        )
        self.context = KubeletContext(
            node_name=node_name,
            host_ip=host_ip,
            clock=clock,
            store=store,
            runtime=runtime,
            network=network,
            containers=self.containers,
            probes=self.probes,
            recorder=recorder,
            log_root=log_root,
            rng=rng,
            volumes=self.volumes,
        )
        if retry_jitter is not None:
            self.context.retry_jitter = retry_jitter
        if cluster_dns is not None:  # --cluster-dns: the kubelet writes each pod's resolv.conf
            self.context.dns = Configurer(recorder, cluster_dns)
        self.workers: dict[str, PodWorker] = {}
        self.eviction = EvictionManager(clock, self.volumes, recorder, self._evictable_pods)
        # The spec and metadata each pod was last seen with.
        self._seen: dict[str, object] = {}
        self._task: asyncio.Task[None] | None = None

    def _claim_path(self, namespace: str, name: str) -> Path:
        # What reading the claim's bound PersistentVolume tells a kubelet: its local directory.
        try:
            return claim_path(self._store, self._claims_dir, self.node_name, namespace, name)
        except NotBound as exc:
            raise NotReady(str(exc)) from exc

    def _evictable_pods(self) -> list[tuple[Pod, Callable[[str], None]]]:
        """The eviction manager's active pods: those whose workers still run them."""
        return [(w.pod, w.evict) for w in self.workers.values() if w.active]

    def register_node(self) -> Node:
        node = Node(
            metadata=ObjectMeta(
                name=self.node_name,
                labels={
                    "kubernetes.io/hostname": self.node_name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                },
            ),
            status=NodeStatus(
                conditions=self._node_conditions(),
                addresses=[
                    NodeAddress(type="InternalIP", address=self.host_ip),
                    NodeAddress(type="Hostname", address=self.node_name),
                ],
                capacity={"pods": str(self.max_pods)},
                allocatable={"pods": str(self.max_pods)},
                node_info=NodeSystemInfo(
                    kernel_version=platform.release(),
                    os_image="hitless",
                    container_runtime_version=f"hitless://{__version__}",
                    kubelet_version=f"v{KUBERNETES_VERSION}.0-hitless",
                    kube_proxy_version=f"v{KUBERNETES_VERSION}.0-hitless",
                    operating_system="linux",
                    architecture="amd64",
                ),
            ),
        )
        with contextlib.suppress(AlreadyExists):
            return self._store.create(node)
        existing = self._store.get("Node", "", self.node_name)
        assert isinstance(existing, Node)
        return existing

    def _node_conditions(self) -> list[NodeCondition]:
        """What kubelet_node_status.go's setters report for a healthy node (``kubectl get
        nodes`` reads Ready; ``drain`` and the scheduler's taints read them too)."""
        now = self.context.clock.wall()

        def condition(type_: str, status: str, reason: str, message: str) -> NodeCondition:
            return NodeCondition(
                type=type_, status=status, reason=reason, message=message,
                last_heartbeat_time=now, last_transition_time=now,
            )  # fmt: skip

        memory = "kubelet has sufficient memory available"
        pids = "kubelet has sufficient PID available"
        return [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", memory),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", pids),
            condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ]

    def start(self) -> None:
        self.register_node()
        self._task = spawn(f"kubelet {self.node_name}", self._run())
        self.eviction.start()

    async def _run(self) -> None:
        await self._store.list_and_watch(["Pod"], self._on_event, relisted=self._relisted)

    def _relisted(self) -> None:
        # After a watch expired: terminate the workers whose pods went away meanwhile.
        present = {p.metadata.uid for p in self._store.pods()}
        for uid, worker in list(self.workers.items()):
            if uid not in present:
                self._pod_gone(uid, worker.pod)

    def _on_event(self, event: WatchEvent) -> None:
        pod = event.object
        if isinstance(pod, Pod) and pod.spec.node_name == self.node_name:
            self._handle(event.type, pod, event.status_only)

    def _handle(self, kind: str, pod: Pod, status_only: bool = False) -> None:
        uid = pod.metadata.uid or ""
        worker = self.workers.get(uid)
        if kind == "DELETED":
            self._pod_gone(uid, pod)
            return
        if worker is None:
            if pod.status.phase in TERMINAL_PHASES:
                return  # finished before this kubelet saw it: nothing to run
            if pod.metadata.deletion_timestamp is None and self._reject_if_full(pod):
                return
            self._changed(pod)
            worker = PodWorker(self.context, pod)
            self.workers[uid] = worker
            worker.start()
            if pod.metadata.deletion_timestamp is not None:
                worker.update(pod)
        elif not status_only and self._changed(pod):
            # Status writes come back through the watch too; like the kubelet's pod config,
            # only a change of spec or metadata is news to the worker.
            worker.update(pod)

    def _reject_if_full(self, pod: Pod) -> bool:
        """Admission (kubelet.go canAdmitPod, lifecycle/predicate.go): a pod bound here past
        maxPods (one that named its node, bypassing the scheduler) is rejected: Failed, with
        the predicate's reason and message, and an Event; it never runs."""
        used = sum(1 for w in self.workers.values() if not w.terminated.is_set())
        if used < self.max_pods:
            return False
        message = (
            f"Node didn't have enough resource: pods, requested: 1, used: {used}, capacity: {self.max_pods}"
        )
        self.context.recorder.event(pod, WARNING, "OutOfpods", message)
        current = self._store.get_typed(Pod, "Pod", pod.namespace, pod.name)
        if current is not None and current.metadata.uid == pod.metadata.uid:
            rejected = current.copy_deep()
            rejected.status.phase = "Failed"
            rejected.status.reason = "OutOfpods"
            rejected.status.message = f"Pod was rejected: {message}"
            self._store.update_status(rejected)
        return True

    def _pod_gone(self, uid: str, pod: Pod) -> None:
        self._seen.pop(uid, None)
        worker = self.workers.get(uid)
        if worker is None:
            return
        worker.removed(pod)

        def forget(_: object) -> None:
            if self.workers.get(uid) is worker:
                del self.workers[uid]
            self.containers.crash_backoff.gc()
            self.containers.image_backoff.gc()

        if worker.task is None or worker.task.done():
            forget(None)
        else:
            worker.task.add_done_callback(forget)

    def _changed(self, pod: Pod) -> bool:
        data = pod.to_json()
        key = (data.get("spec"), {k: v for k, v in data["metadata"].items() if k != "resourceVersion"})
        uid = pod.metadata.uid or ""
        if self._seen.get(uid) == key:
            return False
        self._seen[uid] = key
        return True

    def _pod_status(self, pod: Pod) -> PodStatus | None:
        """The status manager's copy of the pod's status, which probe workers read."""
        current = self._store.get("Pod", pod.namespace, pod.name)
        if not isinstance(current, Pod) or current.metadata.uid != pod.metadata.uid:
            return None
        return current.status

    def _probe_changed(self, uid: str) -> None:
        worker = self.workers.get(uid)
        if worker is not None:
            worker.probe_changed()

    def kill_now(self) -> None:
        for worker in self.workers.values():
            worker.kill_now()

    async def wait_idle(self) -> None:
        """Until every pod worker of this node has terminated."""
        pending = [w.terminated.wait() for w in self.workers.values() if not w.terminated.is_set()]
        await asyncio.gather(*pending)

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *(w.task for w in self.workers.values())) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # A probe in flight is abandoned: the engine is going away.
        probe_tasks = [w.task for w in self.probes.workers.values() if w.task is not None]
        for task in probe_tasks:
            task.cancel()
        await asyncio.gather(*probe_tasks, return_exceptions=True)
        await self.eviction.stop()
        await self.volumes.stop()
        await self.containers.shutdown()
