"""Deployment, ReplicaSet and Service types: JSON as the API server writes it."""

from __future__ import annotations

from hitless.api.types import (
    Deployment,
    DeploymentCondition,
    LabelSelector,
    ObjectMeta,
    PodTemplateSpec,
    ReplicaSet,
    ReplicaSetSpec,
    Service,
)

from .helpers import load_yaml


def test_deployment_round_trips_and_orders_fields_as_go() -> None:
    result = load_yaml(
        """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web, labels: {app: web}}
        spec:
          progressDeadlineSeconds: 120
          template:
            metadata: {labels: {app: web}}
            spec:
              containers: [{name: app, image: web:1, resources: {limits: {cpu: 500m}}}]
          selector: {matchLabels: {app: web}}
        """
    )

    (d,) = result.of_type(Deployment)
    data = d.to_json()
    assert list(data["spec"]) == [
        "replicas",
        "selector",
        "template",
        "strategy",
        "revisionHistoryLimit",
        "progressDeadlineSeconds",
    ]
    assert data["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
    }
    # Fields hitless does not model are kept verbatim.
    assert data["spec"]["template"]["spec"]["containers"][0]["resources"] == {"limits": {"cpu": "500m"}}
    assert Deployment.from_json(data) == d
    assert d.spec.strategy.rolling_update is not None and d.spec.strategy.rolling_update.max_surge == "25%"


def test_deployment_status_conditions() -> None:
    d = Deployment.from_json(
        {
            "metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"spec": {"containers": []}}},
        }
    )
    d.status.conditions = [
        DeploymentCondition(type="Available", status="True", reason="MinimumReplicasAvailable")
    ]

    assert d.to_json()["status"] == {
        "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}]
    }
    assert d.status.condition("Available") is not None


def test_replica_set_status_always_has_replicas() -> None:
    rs = ReplicaSet(
        metadata=ObjectMeta(name="web-5d4f"),
        spec=ReplicaSetSpec(
            replicas=0,
            selector=LabelSelector(match_labels={"app": "web"}),
            template=PodTemplateSpec.model_validate({"spec": {"containers": [{"name": "a", "image": "b"}]}}),
        ),
    )
    data = rs.to_json()
    assert data["apiVersion"] == "apps/v1" and data["kind"] == "ReplicaSet"
    assert data["status"] == {"replicas": 0}
    assert data["spec"]["selector"] == {"matchLabels": {"app": "web"}}


def test_service_json_names_and_status() -> None:
    svc = Service.from_json(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {
                "clusterIP": "10.96.0.10",
                "clusterIPs": ["10.96.0.10"],
                "externalIPs": ["1.2.3.4"],
                "type": "LoadBalancer",
                "externalTrafficPolicy": "Local",
                "healthCheckNodePort": 31000,
                "publishNotReadyAddresses": True,
                "ports": [{"name": "http", "port": 80, "targetPort": "http", "nodePort": 30080}],
            },
            "status": {"loadBalancer": {"ingress": [{"ip": "127.0.1.100", "ipMode": "VIP"}]}},
        }
    )

    assert svc.spec.cluster_ips == ["10.96.0.10"]
    assert svc.spec.health_check_node_port == 31000
    assert svc.spec.port_by_name("http") is not None
    assert svc.status.load_balancer.ingress is not None
    assert svc.status.load_balancer.ingress[0].ip == "127.0.1.100"
    data = svc.to_json()
    assert list(data["spec"])[:4] == ["ports", "clusterIP", "clusterIPs", "type"]
    assert data["status"] == {"loadBalancer": {"ingress": [{"ip": "127.0.1.100", "ipMode": "VIP"}]}}
    assert Service(metadata=ObjectMeta(name="x")).to_json()["status"] == {"loadBalancer": {}}


def test_label_selector_matching() -> None:
    selector = LabelSelector.model_validate(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}],
        }
    )
    assert selector.matches({"app": "web"})
    assert not selector.matches({"app": "web", "tier": "db"})
    assert not selector.matches({"app": "api"})
