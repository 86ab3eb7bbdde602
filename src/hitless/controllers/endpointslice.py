"""The EndpointSlice controller (``pkg/controller/endpointslice``, ``staging/src/k8s.io/endpointslice``).

For every Service with a selector it keeps EndpointSlices listing the matching pods, with each
endpoint's conditions exactly as upstream's ``podToEndpoint`` sets them::

    serving     = pod's Ready condition is True
    terminating = pod has a deletionTimestamp
    ready       = spec.publishNotReadyAddresses or (serving and not terminating)

A pod is listed once it has an IP and until it is terminal or gone (``ShouldPodBeInEndpoints``
with includeTerminating). Each Service port's ``targetPort`` is resolved per pod, a name through
the pod's container ports; pods whose ports resolve alike share a slice (the reconciler's
endpointMeta grouping), at most 100 endpoints per slice. A Service without pods keeps one empty
slice. Changes are queued per Service and reconciled in one pass, as the controller's workqueue
does (its batch period defaults to 0).
"""

from __future__ import annotations

import asyncio
import contextlib

from hitless.api.types.discovery import (
    CONTROLLER_NAME,
    LABEL_MANAGED_BY,
    LABEL_SERVICE_NAME,
    Endpoint,
    EndpointConditions,
    EndpointPort,
    EndpointSlice,
)
from hitless.api.types.meta import ObjectMeta, ObjectReference, OwnerReference
from hitless.api.types.pod import Pod
from hitless.api.types.service import Service, ServicePort
from hitless.clock import Clock
from hitless.store.store import NotFound, Store, WatchEvent
from hitless.tasks import cancel_and_wait, spawn

MAX_ENDPOINTS_PER_SLICE = 100
# Names its tasks to the run's supervisor (hitless.tasks).
COMPONENT = "endpointslice-controller"
LABEL_HEADLESS = "service.kubernetes.io/headless"
_RESERVED_LABELS = (LABEL_SERVICE_NAME, LABEL_MANAGED_BY, LABEL_HEADLESS)

PortKey = tuple[tuple[str, str, int, str | None], ...]


def should_pod_be_in_endpoints(pod: Pod) -> bool:
    if pod.status.phase in ("Succeeded", "Failed"):
        return False
    return bool(pod.status.pod_ip or pod.status.pod_ips)


def pod_to_endpoint(pod: Pod, service: Service) -> Endpoint:
    serving = pod.is_ready()
    terminating = pod.metadata.deletion_timestamp is not None
    ready = bool(service.spec.publish_not_ready_addresses) or (serving and not terminating)
    endpoint = Endpoint(
        addresses=[pod.status.pod_ip or ""],
        conditions=EndpointConditions(ready=ready, serving=serving, terminating=terminating),
        target_ref=ObjectReference(kind="Pod", namespace=pod.namespace, name=pod.name, uid=pod.metadata.uid),
        node_name=pod.spec.node_name or None,
    )
    if pod.spec.hostname and pod.spec.subdomain == service.name:
        endpoint.hostname = pod.spec.hostname
    return endpoint


def find_port(pod: Pod, port: ServicePort) -> int | None:
    """``podutil.FindPort``: a number is taken as is; a name must match a container port of the
    same protocol."""
    target = port.target_port if port.target_port is not None else port.port
    if isinstance(target, int):
        return target
    if target.isdigit():
        return int(target)
    protocol = port.protocol or "TCP"
    for container in pod.spec.containers:
        for cport in container.ports or []:
            if cport.name == target and (cport.protocol or "TCP") == protocol:
                return cport.container_port
    return None


def endpoint_ports(pod: Pod, service: Service) -> PortKey:
    ports = []
    for port in service.spec.ports or []:
        number = find_port(pod, port)
        if number is not None:  # an unresolvable port is left out for this pod, as upstream logs and skips
            ports.append((port.name or "", port.protocol or "TCP", number, port.app_protocol))
    return tuple(ports)


def selector_matches(selector: dict[str, str], labels: dict[str, str] | None) -> bool:
    labels = labels or {}
    return all(labels.get(k) == v for k, v in selector.items())


class EndpointSliceController:
    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._queued: set[tuple[str, str]] = set()
        # The labels each pod had when last seen, so that a pod leaving a selector is noticed.
        self._pod_labels: dict[tuple[str, str], dict[str, str]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [spawn(COMPONENT, self._watch()), spawn(COMPONENT, self._work())]

    async def stop(self) -> None:
        await cancel_and_wait(*self._tasks)

    def _enqueue(self, namespace: str, name: str) -> None:
        key = (namespace, name)
        if key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    async def _watch(self) -> None:
        await self._store.list_and_watch(["Service", "Pod"], self._on_event)

    def _on_event(self, event: WatchEvent) -> None:
        obj = event.object
        if isinstance(obj, Service):
            self._enqueue(obj.namespace, obj.name)
        elif isinstance(obj, Pod):
            key = (obj.namespace, obj.name)
            before = self._pod_labels.get(key, {})
            now = obj.metadata.labels or {}
            if event.type == "DELETED":
                self._pod_labels.pop(key, None)
            else:
                self._pod_labels[key] = dict(now)
            for service in self._store.objects("Service", obj.namespace):
                assert isinstance(service, Service)
                selector = service.spec.selector
                if selector and (selector_matches(selector, now) or selector_matches(selector, before)):
                    self._enqueue(service.namespace, service.name)

    async def _work(self) -> None:
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            self.sync_service(*key)

    # --- the reconciler -----------------------------------------------------------------------

    def _slices_of(self, namespace: str, name: str) -> list[EndpointSlice]:
        out = []
        for obj in self._store.objects("EndpointSlice", namespace):
            managed = (obj.metadata.labels or {}).get(LABEL_MANAGED_BY) == CONTROLLER_NAME
            if isinstance(obj, EndpointSlice) and obj.service_name == name and managed:
                out.append(obj)
        return sorted(out, key=lambda s: s.name)

    def sync_service(self, namespace: str, name: str) -> None:
        service = self._store.get_typed(Service, "Service", namespace, name)
        existing = self._slices_of(namespace, name)
        if service is None or service.metadata.deletion_timestamp is not None:
            # Upstream leaves this to the garbage collector (ownerReferences); the effect is the same.
            for stale in existing:
                with contextlib.suppress(NotFound):
                    self._store.delete("EndpointSlice", namespace, stale.name)
            return
        selector = service.spec.selector
        if selector is None or service.spec.type == "ExternalName":
            return
        groups: dict[PortKey, list[Endpoint]] = {}
        for pod in self._store.pods(lambda p: p.namespace == namespace):
            if not selector_matches(selector, pod.metadata.labels) or not should_pod_be_in_endpoints(pod):
                continue
            groups.setdefault(endpoint_ports(pod, service), []).append(pod_to_endpoint(pod, service))
        desired: list[tuple[PortKey, list[Endpoint]]] = []
        for ports, endpoints in sorted(groups.items()):
            endpoints.sort(key=lambda e: (e.addresses[0], e.target_ref.name if e.target_ref else ""))
            for i in range(0, len(endpoints), MAX_ENDPOINTS_PER_SLICE):
                desired.append((ports, endpoints[i : i + MAX_ENDPOINTS_PER_SLICE]))
        if not desired:
            desired.append(((), []))  # the placeholder slice
        labels = self._labels(service)
        owner = OwnerReference(
            api_version="v1",
            kind="Service",
            name=service.name,
            uid=service.metadata.uid or "",
            controller=True,
            block_owner_deletion=True,
        )
        # Reuse slices with the same ports first, so that an endpoint changing condition is an
        # update of its slice, not a delete and a create.
        unused = list(existing)
        for ports, endpoints in desired:
            match = next((s for s in unused if self._port_key(s) == ports), None) or (
                unused[0] if unused else None
            )
            body_ports = [
                EndpointPort(name=n, protocol=p, port=num, app_protocol=a) for n, p, num, a in ports
            ]
            if match is None:
                self._store.create(
                    EndpointSlice(
                        metadata=ObjectMeta(
                            generate_name=f"{service.name}-",
                            namespace=namespace,
                            labels=labels,
                            owner_references=[owner],
                        ),
                        endpoints=endpoints,
                        ports=body_ports,
                    )
                )
                continue
            unused.remove(match)
            updated = match.copy_deep()
            updated.metadata.labels = labels
            updated.metadata.owner_references = [owner]
            updated.endpoints = endpoints
            updated.ports = body_ports
            self._store.update(updated)  # a no-op write leaves the slice (and its version) alone
        for stale in unused:
            with contextlib.suppress(NotFound):
                self._store.delete("EndpointSlice", namespace, stale.name)

    @staticmethod
    def _port_key(slice_: EndpointSlice) -> PortKey:
        return tuple((p.name or "", p.protocol or "TCP", p.port or 0, p.app_protocol) for p in slice_.ports)

    @staticmethod
    def _labels(service: Service) -> dict[str, str]:
        labels = {k: v for k, v in (service.metadata.labels or {}).items() if k not in _RESERVED_LABELS}
        if service.spec.cluster_ip == "None":
            labels[LABEL_HEADLESS] = ""
        labels[LABEL_SERVICE_NAME] = service.name
        labels[LABEL_MANAGED_BY] = CONTROLLER_NAME
        return labels
