"""Realistic manifests, as Helm charts render them, load cleanly: a false rejection is worse than a
missed one, since hitless must accept every manifest a cluster accepts."""

from __future__ import annotations

from hitless.api import load
from hitless.api.types import Deployment, Pod, Service

from .helpers import FIXTURES, load_yaml, pod

HELM = str(FIXTURES / "helm-chart.yaml")


def test_helm_chart_output_loads_without_errors_or_warnings() -> None:
    result = load([HELM])

    assert result.errors == []
    assert result.warnings == []
    assert [(o.kind, o.name) for o in result.objects] == [
        ("Namespace", "prod"),
        ("ServiceAccount", "release-web"),
        ("Service", "release-web"),
        ("Service", "release-web-headless"),
        ("Service", "release-web-np"),
        ("Service", "external-db"),
        ("Service", "with-external-ip"),
        ("Deployment", "release-web"),
        ("Deployment", "recreate"),
        ("Pod", ""),
    ]


def test_fields_hitless_does_not_model_are_kept_verbatim_and_defaulted() -> None:
    result = load([HELM])
    web = next(d for d in result.of_type(Deployment) if d.name == "release-web")
    spec = web.to_json()["spec"]
    pod_spec = spec["template"]["spec"]
    container = pod_spec["containers"][0]

    assert web.namespace == "prod"
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    assert pod_spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod_spec["topologySpreadConstraints"][0]["matchLabelKeys"] == ["pod-template-hash"]
    assert container["resources"]["limits"] == {"cpu": "1.5", "memory": "0.5Gi"}
    assert container["envFrom"][1] == {
        "secretRef": {"name": "release-web-secret", "optional": True},
        "prefix": "SECRET_",
    }
    # Defaults reach into fields hitless does not type (fieldRef.apiVersion, volume modes).
    assert container["env"][0]["valueFrom"]["fieldRef"] == {"apiVersion": "v1", "fieldPath": "metadata.name"}
    assert pod_spec["volumes"][5]["downwardAPI"]["defaultMode"] == 0o644
    assert container["readinessProbe"]["grpc"] == {"port": 50051, "service": "readiness"}
    # The restartable init container is a sidecar with its probes and hooks.
    (sidecar,) = web.spec.template.spec.sidecars()
    assert sidecar.name == "log-shipper"
    assert sidecar.lifecycle is not None and sidecar.lifecycle.pre_stop is not None


def test_services_of_every_type_keep_their_traffic_settings() -> None:
    services = {s.name: s for s in load([HELM]).of_type(Service)}

    lb = services["release-web"].spec
    assert (lb.type, lb.external_traffic_policy, lb.session_affinity) == ("LoadBalancer", "Local", "ClientIP")
    assert [(p.name, p.port, p.protocol) for p in lb.ports or []][2:] == [
        ("dns-udp", 53, "UDP"),
        ("dns-tcp", 53, "TCP"),
    ]
    assert services["release-web-headless"].is_headless
    assert services["release-web-headless"].spec.publish_not_ready_addresses is True
    assert services["external-db"].spec.external_name == "db.example.com."
    assert services["with-external-ip"].spec.external_traffic_policy == "Local"
    (pod,) = load([HELM]).of_type(Pod)
    assert pod.metadata.generate_name == "job-" and pod.status.phase is None  # status is not applied


def test_fields_the_schema_marks_required_but_go_decodes_as_zero_are_accepted() -> None:
    # sleep.seconds and httpHeaders[].value are "required" in the OpenAPI schema; the API server
    # decodes them absent as 0 and "", and validation accepts both.
    result = load_yaml(
        pod(
            """
            containers:
            - name: a
              image: b
              lifecycle: {preStop: {sleep: {}}}
              readinessProbe: {httpGet: {port: 80, httpHeaders: [{name: X-Empty}]}}
            """
        )
    )

    assert result.errors == []
    (loaded,) = result.of_type(Pod)
    container = loaded.to_json()["spec"]["containers"][0]
    assert container["lifecycle"]["preStop"] == {"sleep": {"seconds": 0}}
    assert container["readinessProbe"]["httpGet"]["httpHeaders"] == [{"name": "X-Empty", "value": ""}]
