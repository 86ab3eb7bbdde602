"""The EndpointSlice controller and the Service allocator, on a store and a fake clock."""

from __future__ import annotations

import ipaddress

import pytest

from hitless.api.types.discovery import EndpointSlice
from hitless.api.types.pod import Pod
from hitless.clock import FakeClock
from hitless.controllers.endpointslice import EndpointSliceController
from hitless.store.allocator import SERVICE_CIDR, Invalid
from hitless.store.store import Store
from tests.proxy.helpers import pod, service


def slices(store: Store, name: str = "web") -> list[EndpointSlice]:
    return [
        s for s in store.objects("EndpointSlice") if isinstance(s, EndpointSlice) and s.service_name == name
    ]


def add(store: Store, p: Pod) -> None:
    """Create, then write the status as a kubelet would (a create clears it)."""
    created = store.create(p)
    created.status = p.status
    store.update_status(created)


def conditions(store: Store) -> dict[str, tuple[bool | None, bool | None, bool | None]]:
    out = {}
    for s in slices(store):
        for e in s.endpoints:
            assert e.target_ref is not None
            out[e.target_ref.name or ""] = (
                e.conditions.ready,
                e.conditions.serving,
                e.conditions.terminating,
            )
    return out


@pytest.fixture
async def setup() -> tuple[FakeClock, Store, EndpointSliceController]:
    clock = FakeClock()
    store = Store(clock)
    controller = EndpointSliceController(store, clock)
    controller.start()
    await clock.settle()
    return clock, store, controller


async def test_conditions_follow_upstream(setup: tuple[FakeClock, Store, EndpointSliceController]) -> None:
    clock, store, _ = setup
    store.create(service(target="web"))
    add(store, pod("no-ip"))
    add(store, pod("starting", ip="127.244.0.2"))
    add(store, pod("ready", ip="127.244.0.3", ready=True))
    await clock.settle()
    assert conditions(store) == {"starting": (False, False, False), "ready": (True, True, False)}
    (only,) = slices(store)
    data = only.to_json()
    assert data["apiVersion"] == "discovery.k8s.io/v1" and data["addressType"] == "IPv4"
    assert data["ports"] == [{"name": "http", "protocol": "TCP", "port": 8080}]  # targetPort "web" resolved
    assert (
        data["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"]
        == "endpointslice-controller.k8s.io"
    )
    assert data["metadata"]["ownerReferences"][0]["kind"] == "Service"
    assert data["endpoints"][0]["targetRef"]["kind"] == "Pod" and data["endpoints"][0]["nodeName"] == "node-1"

    # Deletion: still listed, ready false, serving as the Ready condition says, terminating.
    store.delete("Pod", "default", "ready")
    await clock.settle()
    assert conditions(store)["ready"] == (False, True, True)

    current = store.get("Pod", "default", "ready")
    assert current is not None
    failed = current.copy_deep()
    failed.status.phase = "Failed"  # type: ignore[attr-defined]
    store.update_status(failed)
    await clock.settle()
    assert "ready" not in conditions(store)


async def test_publish_not_ready_addresses_and_empty_slice(
    setup: tuple[FakeClock, Store, EndpointSliceController],
) -> None:
    clock, store, _ = setup
    store.create(service(publishNotReadyAddresses=True))
    await clock.settle()
    (placeholder,) = slices(store)
    assert placeholder.endpoints == [] and placeholder.ports == []
    add(store, pod("starting", ip="127.244.0.2"))
    await clock.settle()
    assert conditions(store) == {"starting": (True, False, False)}
    assert len(slices(store)) == 1  # the placeholder was reused


async def test_unresolvable_named_port_and_label_change(
    setup: tuple[FakeClock, Store, EndpointSliceController],
) -> None:
    clock, store, _ = setup
    store.create(service(target="metrics"))  # no container port of that name
    add(store, pod("a", ip="127.244.0.2", ready=True))
    await clock.settle()
    (only,) = slices(store)
    assert only.ports == [] and len(only.endpoints) == 1
    relabelled = store.get("Pod", "default", "a")
    assert relabelled is not None
    moved = relabelled.copy_deep()
    moved.metadata.labels = {"app": "other"}
    store.update(moved)
    await clock.settle()
    assert conditions(store) == {}


def test_allocation() -> None:
    store = Store(FakeClock())
    lb = store.create(service("lb", "LoadBalancer", externalTrafficPolicy="Local"))
    assert lb.spec.cluster_ip and ipaddress.ip_address(lb.spec.cluster_ip) in SERVICE_CIDR
    assert lb.spec.cluster_ips == [lb.spec.cluster_ip]
    node_port = (lb.spec.ports or [])[0].node_port
    assert node_port is not None and 30000 <= node_port <= 32767
    assert lb.spec.health_check_node_port and lb.spec.health_check_node_port != node_port
    plain = store.create(service("plain"))
    assert (plain.spec.ports or [])[0].node_port is None and plain.spec.health_check_node_port is None
    clash = service("clash", "NodePort")
    (clash.spec.ports or [])[0].node_port = node_port
    with pytest.raises(Invalid) as err:
        store.create(clash)
    assert str(err.value) == (
        f'Service "clash" is invalid: spec.ports[0].nodePort: Invalid value: {node_port}: '
        "provided port is already allocated"
    )
    outside = service("outside", clusterIP="10.96.0.10")
    with pytest.raises(Invalid, match="is not in the valid range"):
        store.create(outside)
    store.delete("Service", "default", "lb")
    again = service("again", "NodePort")
    (again.spec.ports or [])[0].node_port = node_port
    assert (store.create(again).spec.ports or [])[0].node_port == node_port  # released on delete
