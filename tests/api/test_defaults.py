"""Kubernetes defaulting (pkg/apis/core/v1/defaults.go, pkg/apis/apps/v1/defaults.go)."""

from __future__ import annotations

from typing import Any

from hitless.api.defaults import apply_defaults, image_tag

from .helpers import load_yaml


def defaulted(obj: dict[str, Any]) -> dict[str, Any]:
    apply_defaults(obj)
    return obj


def test_pod_defaults() -> None:
    pod = defaulted(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "web"},
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "image": "nginx:1.27",
                        "ports": [{"containerPort": 80}],
                        "resources": {"limits": {"cpu": "1"}},
                        "env": [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                        "readinessProbe": {"httpGet": {"port": 80}},
                        "livenessProbe": {"grpc": {"port": 9000}, "periodSeconds": 0},
                        "lifecycle": {"preStop": {"httpGet": {"port": 80}}},
                    }
                ],
                "volumes": [{"name": "scratch"}, {"name": "cfg", "configMap": {"name": "c"}}],
            },
        }
    )

    assert pod["metadata"]["namespace"] == "default"
    spec = pod["spec"]
    assert {k: spec[k] for k in spec if k not in ("containers", "volumes")} == {
        "enableServiceLinks": True,
        "dnsPolicy": "ClusterFirst",
        "restartPolicy": "Always",
        "securityContext": {},
        "terminationGracePeriodSeconds": 30,
        "schedulerName": "default-scheduler",
    }
    assert spec["volumes"] == [
        {"name": "scratch", "emptyDir": {}},
        {"name": "cfg", "configMap": {"name": "c", "defaultMode": 420}},
    ]
    c = spec["containers"][0]
    assert (c["imagePullPolicy"], c["terminationMessagePath"], c["terminationMessagePolicy"]) == (
        "IfNotPresent",
        "/dev/termination-log",
        "File",
    )
    assert c["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert c["resources"] == {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}
    assert c["env"][0]["valueFrom"]["fieldRef"] == {"fieldPath": "metadata.name", "apiVersion": "v1"}
    assert c["readinessProbe"] == {
        "httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    assert c["livenessProbe"]["grpc"] == {"port": 9000, "service": ""}
    assert c["livenessProbe"]["periodSeconds"] == 10
    assert c["lifecycle"]["preStop"]["httpGet"] == {"port": 80, "path": "/", "scheme": "HTTP"}


def test_written_values_are_kept() -> None:
    pod = defaulted(
        {
            "kind": "Pod",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {
                "restartPolicy": "Never",
                "terminationGracePeriodSeconds": 0,
                "enableServiceLinks": False,
                "containers": [{"name": "a", "image": "b", "imagePullPolicy": "Never"}],
            },
            "status": {"phase": "Running"},
        }
    )

    assert pod["metadata"]["namespace"] == "shop"
    assert (pod["spec"]["restartPolicy"], pod["spec"]["terminationGracePeriodSeconds"]) == ("Never", 0)
    assert pod["spec"]["enableServiceLinks"] is False
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == "Never"
    assert "status" not in pod  # the create strategy discards a written status


def test_image_pull_policy_follows_the_tag() -> None:
    assert [image_tag(i) for i in ("nginx", "nginx:latest", "nginx:1.27", "r.io:5000/a/b", "Bad/Name")] == [
        "latest",
        "latest",
        "1.27",
        "latest",
        "",
    ]
    assert image_tag("nginx@sha256:" + "a" * 64) == ""


def test_deployment_defaults_and_template_defaults() -> None:
    deployment = defaulted(
        {
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "b:latest"}]}}},
        }
    )

    spec = deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
    }
    assert (spec["revisionHistoryLimit"], spec["progressDeadlineSeconds"]) == (10, 600)
    template = spec["template"]["spec"]
    assert template["restartPolicy"] == "Always"
    assert template["containers"][0]["imagePullPolicy"] == "Always"
    # enableServiceLinks is defaulted on Pods only (SetDefaults_Pod), not on pod templates.
    assert "enableServiceLinks" not in template


def test_recreate_gets_no_rolling_update_and_partial_rolling_update_is_completed() -> None:
    recreate = defaulted({"kind": "Deployment", "spec": {"strategy": {"type": "Recreate"}}})
    assert recreate["spec"]["strategy"] == {"type": "Recreate"}
    partial = defaulted({"kind": "Deployment", "spec": {"strategy": {"rollingUpdate": {"maxSurge": 0}}}})
    assert partial["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": "25%"}


def test_service_defaults() -> None:
    lb = defaulted({"kind": "Service", "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}})["spec"]
    assert lb == {
        "type": "LoadBalancer",
        "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
        "sessionAffinity": "None",
        "externalTrafficPolicy": "Cluster",
        "internalTrafficPolicy": "Cluster",
        "allocateLoadBalancerNodePorts": True,
        "ipFamilyPolicy": "SingleStack",
        "ipFamilies": ["IPv4"],
    }
    cluster = defaulted({"kind": "Service", "spec": {"clusterIP": "None", "sessionAffinity": "ClientIP"}})[
        "spec"
    ]
    assert cluster["type"] == "ClusterIP"
    assert "externalTrafficPolicy" not in cluster
    assert cluster["clusterIPs"] == ["None"]
    assert cluster["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}
    external = defaulted(
        {"kind": "Service", "spec": {"type": "ExternalName", "externalName": "db.example.com"}}
    )
    assert "ipFamilyPolicy" not in external["spec"] and "internalTrafficPolicy" not in external["spec"]


def test_loaded_objects_are_defaulted_and_raw_is_as_written() -> None:
    result = load_yaml(
        """
        apiVersion: v1
        kind: Service
        metadata: {name: web}
        spec:
          ports: [{port: 80, targetPort: http}]
        """
    )

    (loaded,) = result.objects
    assert loaded.raw == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"ports": [{"port": 80, "targetPort": "http"}]},
    }
    assert loaded.obj.to_json()["spec"]["ports"] == [{"protocol": "TCP", "port": 80, "targetPort": "http"}]


def test_downward_api_files_and_projected_tokens_are_defaulted() -> None:
    volumes = defaulted(
        {
            "kind": "Pod",
            "spec": {
                "containers": [],
                "volumes": [
                    {
                        "name": "info",
                        "downwardAPI": {"items": [{"path": "n", "fieldRef": {"fieldPath": "x"}}]},
                    },
                    {
                        "name": "token",
                        "projected": {
                            "sources": [
                                {"serviceAccountToken": {"path": "t"}},
                                {"downwardAPI": {"items": [{"path": "l", "fieldRef": {"fieldPath": "y"}}]}},
                            ]
                        },
                    },
                ],
            },
        }
    )["spec"]["volumes"]

    assert volumes[0]["downwardAPI"] == {
        "items": [{"path": "n", "fieldRef": {"fieldPath": "x", "apiVersion": "v1"}}],
        "defaultMode": 0o644,
    }
    sources = volumes[1]["projected"]["sources"]
    assert sources[0] == {"serviceAccountToken": {"path": "t", "expirationSeconds": 3600}}
    assert sources[1]["downwardAPI"]["items"][0]["fieldRef"]["apiVersion"] == "v1"
