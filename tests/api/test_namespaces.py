"""Namespaces as a cluster has them: created by a Namespace in the input, in input order, and a
Service's endpoints only from its own namespace."""

from __future__ import annotations

from hitless.api.types.discovery import EndpointSlice
from hitless.clock import FakeClock
from hitless.controllers.endpointslice import EndpointSliceController
from hitless.store.store import Store
from tests.proxy.helpers import pod, service

from .helpers import load_yaml

NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n"
CONFIG = "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c, namespace: {ns}}}\n"


def test_an_object_in_a_namespace_the_input_creates_earlier_is_accepted() -> None:
    result = load_yaml(
        NAMESPACE + "---\n" + CONFIG.format(ns="shop") + "---\n" + CONFIG.format(ns="kube-system")
    )

    assert result.errors == []
    assert [o.obj.key for o in result.objects] == [
        ("Namespace", "", "shop"),
        ("ConfigMap", "shop", "c"),
        ("ConfigMap", "kube-system", "c"),
    ]
    namespace = result.objects[0].obj.to_json()
    assert namespace["metadata"]["labels"] == {"kubernetes.io/metadata.name": "shop"}
    assert namespace["spec"] == {"finalizers": ["kubernetes"]} and namespace["status"] == {"phase": "Active"}


def test_a_missing_namespace_is_refused_as_the_api_server_refuses_it() -> None:
    result = load_yaml(CONFIG.format(ns="nowhere") + "---\n" + CONFIG.format(ns="shop") + "---\n" + NAMESPACE)

    assert [o.obj.key for o in result.objects] == [("Namespace", "", "shop")]
    assert [e.format() for e in result.errors] == [
        'test.yaml:3: error when creating "test.yaml": namespaces "nowhere" not found',
        'test.yaml:7: error when creating "test.yaml": namespaces "shop" not found (the Namespace comes '
        "later in the input: kubectl apply creates objects in order)",
    ]


async def test_a_service_selects_pods_of_its_own_namespace_only() -> None:
    clock = FakeClock()
    store = Store(clock)
    controller = EndpointSliceController(store, clock)
    controller.start()
    for ns, ip in (("default", "127.244.0.2"), ("shop", "127.244.0.3")):
        svc = service(target="web")
        svc.metadata.namespace = ns
        store.create(svc)
        p = pod(f"web-{ns}", ip=ip, ready=True)
        p.metadata.namespace = ns
        created = store.create(p)
        created.status = p.status
        store.update_status(created)
    await clock.settle()

    by_namespace = {
        s.namespace: sorted(e.target_ref.name or "" for e in s.endpoints if e.target_ref)
        for s in store.objects("EndpointSlice")
        if isinstance(s, EndpointSlice)
    }
    assert by_namespace == {"default": ["web-default"], "shop": ["web-shop"]}
    await controller.stop()
