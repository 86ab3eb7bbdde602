"""Building Services, Pods and EndpointSlices for the proxy tests."""

from __future__ import annotations

from typing import Any

from hitless.api.types.discovery import (
    CONTROLLER_NAME,
    LABEL_MANAGED_BY,
    LABEL_SERVICE_NAME,
    Endpoint,
    EndpointConditions,
    EndpointPort,
    EndpointSlice,
)
from hitless.api.types.meta import ObjectMeta, ObjectReference
from hitless.api.types.pod import Pod
from hitless.api.types.service import Service


def service(
    name: str = "web", type_: str = "ClusterIP", port: int = 80, target: Any = 8080, **spec: Any
) -> Service:
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "type": type_,
            "selector": {"app": name},
            "ports": [{"name": "http", "port": port, "targetPort": target, "protocol": "TCP"}],
            **spec,
        },
    }
    if type_ in ("NodePort", "LoadBalancer"):
        body["spec"].setdefault("externalTrafficPolicy", "Cluster")
    return Service.from_json(body)


def pod(name: str, node: str = "node-1", ip: str | None = None, ready: bool = False, **spec: Any) -> Pod:
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "nodeName": node,
            "terminationGracePeriodSeconds": 30,
            "containers": [{"name": "app", "image": "x", "ports": [{"name": "web", "containerPort": 8080}]}],
            **spec,
        },
        "status": {"phase": "Running"},
    }
    if ip:
        body["status"]["podIP"] = ip
        body["status"]["podIPs"] = [{"ip": ip}]
    body["status"]["conditions"] = [{"type": "Ready", "status": "True" if ready else "False"}]
    return Pod.from_json(body)


def endpoint(
    pod_name: str,
    ip: str,
    node: str,
    ready: bool = True,
    serving: bool | None = None,
    terminating: bool = False,
) -> Endpoint:
    return Endpoint(
        addresses=[ip],
        conditions=EndpointConditions(
            ready=ready, serving=ready if serving is None else serving, terminating=terminating
        ),
        target_ref=ObjectReference(kind="Pod", namespace="default", name=pod_name),
        node_name=node,
    )


def endpoint_slice(
    service_name: str, port: int, endpoints: list[Endpoint], name: str | None = None
) -> EndpointSlice:
    return EndpointSlice(
        metadata=ObjectMeta(
            name=name or f"{service_name}-abcde",
            namespace="default",
            labels={LABEL_SERVICE_NAME: service_name, LABEL_MANAGED_BY: CONTROLLER_NAME},
        ),
        endpoints=endpoints,
        ports=[EndpointPort(name="http", protocol="TCP", port=port)],
    )
