"""Pod validation: the rules of pkg/apis/core/validation/validation.go, in its messages and paths."""

from __future__ import annotations

from .helpers import (
    DNS1123_LABEL_MSG,
    LABEL_VALUE_MSG,
    NAME_PART_MSG,
    PORT_RANGE,
    formatted,
    invalid,
    load_yaml,
    pod,
)


def pod_errors(spec: str, **kw: str) -> list[str]:
    return invalid(load_yaml(pod(spec, **kw)), f'Pod "{kw.get("name", "web")}" is invalid: ')


def test_probe_success_threshold_must_be_1_for_liveness_with_file_and_line() -> None:
    result = load_yaml(
        pod(
            """
            containers:
            - name: web
              image: nginx
              livenessProbe:
                httpGet: {path: /, port: 80}
                successThreshold: 2
            """
        )
    )

    assert formatted(result) == [
        'test.yaml:11: Pod "web" is invalid: spec.containers[0].livenessProbe.successThreshold: Invalid '
        "value: 2: must be 1"
    ]
    error = result.errors[0]
    assert (error.kind, error.name, error.field, error.category) == (
        "Pod",
        "web",
        "spec.containers[0].livenessProbe.successThreshold",
        "invalid",
    )


def test_object_names() -> None:
    assert pod_errors("containers: [{name: a, image: b}]", name="Web.App_1") == [
        'metadata.name: Invalid value: "Web.App_1": a lowercase RFC 1123 subdomain must consist of lower '
        "case "
        "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. "
        "'example.com', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    ]
    no_name = load_yaml(
        "apiVersion: v1\nkind: Pod\nmetadata: {}\nspec: {containers: [{name: a, image: b}]}\n"
    )
    assert invalid(no_name, 'Pod "" is invalid: ') == [
        "metadata.name: Required value: name or generateName is required"
    ]


def test_labels_and_annotations() -> None:
    meta = '  labels: {"app": "web!", "a/b/c": "x"}\n  annotations: {"Example.com/ok": "", "bad key": ""}\n'
    errors = pod_errors("containers: [{name: a, image: b}]", extra_meta=meta)

    assert errors == [
        f'metadata.labels: Invalid value: "web!": {LABEL_VALUE_MSG}',
        'metadata.labels: Invalid value: "a/b/c": a qualified name must consist of alphanumeric '
        "characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName' "
        "or 'my.name' or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') "
        "with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
        f'metadata.annotations: Invalid value: "bad key": {NAME_PART_MSG}',
    ]


def test_annotations_total_size() -> None:
    big = "x" * (256 * 1024)
    errors = pod_errors("containers: [{name: a, image: b}]", extra_meta=f"  annotations: {{a: {big}}}\n")
    assert errors == ["metadata.annotations: Too long: may not be more than 262144 bytes"]


def test_container_names_missing_invalid_and_duplicate_across_init_containers() -> None:
    assert pod_errors(
        """
        initContainers:
        - name: setup
          image: busybox
        - name: app
          image: busybox
        containers:
        - name: app
          image: nginx
        - image: nginx
        - name: Side_Car
          image: nginx
        - name: app
          image: nginx
        """
    ) == [
        "spec.containers[1].name: Required value",
        f'spec.containers[2].name: Invalid value: "Side_Car": {DNS1123_LABEL_MSG}',
        'spec.containers[3].name: Duplicate value: "app"',
        'spec.initContainers[1].name: Duplicate value: "app"',
    ]


def test_containers_required_and_image_required() -> None:
    assert pod_errors("restartPolicy: Always") == ["spec.containers: Required value"]
    assert pod_errors("containers: [{name: a}]") == ["spec.containers[0].image: Required value"]
    assert pod_errors('containers: [{name: a, image: "nginx "}]') == [
        'spec.containers[0].image: Invalid value: "nginx ": must not have leading or trailing whitespace'
    ]


def test_ports() -> None:
    assert pod_errors(
        """
        containers:
        - name: a
          image: b
          ports:
          - {containerPort: 0}
          - {containerPort: 65536, hostPort: -1, protocol: HTTP}
          - {containerPort: 80, name: web}
          - {containerPort: 81, name: web}
          - {containerPort: 82, name: a--b}
        """
    ) == [
        "spec.containers[0].ports[0].containerPort: Required value",
        f"spec.containers[0].ports[1].containerPort: Invalid value: 65536: {PORT_RANGE}",
        f"spec.containers[0].ports[1].hostPort: Invalid value: -1: {PORT_RANGE}",
        'spec.containers[0].ports[1].protocol: Unsupported value: "HTTP": '
        'supported values: "SCTP", "TCP", "UDP"',
        'spec.containers[0].ports[3].name: Duplicate value: "web"',
        'spec.containers[0].ports[4].name: Invalid value: "a--b": must not contain consecutive hyphens',
    ]


def test_env_names_and_sources() -> None:
    assert pod_errors(
        """
        containers:
        - name: a
          image: b
          env:
          - name: ""
          - name: "A=B"
          - name: "my.var-1"
          - name: POD
            value: x
            valueFrom: {fieldRef: {fieldPath: metadata.name}}
          - name: PHASE
            valueFrom: {fieldRef: {fieldPath: status.phase}}
        """
    ) == [
        "spec.containers[0].env[0].name: Required value",
        'spec.containers[0].env[1].name: Invalid value: "A=B": '
        "a valid environment variable name must consist only of printable ASCII characters other than '='",
        'spec.containers[0].env[3].valueFrom: Invalid value: "": '
        "may not be specified when `value` is not empty",
        'spec.containers[0].env[4].valueFrom.fieldRef.fieldPath: Unsupported value: "status.phase": '
        'supported values: "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", '
        '"spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"',
    ]


def test_env_field_ref_subscripts() -> None:
    assert pod_errors(
        """
        containers:
        - name: a
          image: b
          env:
          - {name: A, valueFrom: {fieldRef: {fieldPath: "metadata.labels['app.kubernetes.io/name']"}}}
          - {name: B, valueFrom: {fieldRef: {fieldPath: "metadata.annotations['Example.com/X']"}}}
          - {name: C, valueFrom: {fieldRef: {fieldPath: "metadata.labels['a b']"}}}
          - {name: D, valueFrom: {fieldRef: {fieldPath: "metadata.labels[app]"}}}
          - {name: E, valueFrom: {fieldRef: {fieldPath: "spec.nodeName['x']"}}}
          - {name: F, valueFrom: {fieldRef: {fieldPath: spec.host}}}
        """
    ) == [
        # The subscript's key is reported on the fieldRef itself.
        f'spec.containers[0].env[2].valueFrom.fieldRef: Invalid value: "a b": {NAME_PART_MSG}',
        # Only ['key'] is a subscript (fieldpath.SplitMaybeSubscriptedPath).
        'spec.containers[0].env[3].valueFrom.fieldRef.fieldPath: Invalid value: "metadata.labels[app]": '
        "error converting fieldPath: field label not supported: metadata.labels[app]",
        "spec.containers[0].env[4].valueFrom.fieldRef.fieldPath: Invalid value: \"spec.nodeName['x']\": "
        "error converting fieldPath: field label does not support subscript: spec.nodeName['x']",
    ]


def test_probe_handlers_exactly_one() -> None:
    assert pod_errors(
        """
        containers:
        - name: a
          image: b
          livenessProbe: {periodSeconds: 5}
          readinessProbe:
            exec: {command: [x]}
            httpGet: {port: 80}
            tcpSocket: {port: 80}
        """
    ) == [
        "spec.containers[0].livenessProbe: Required value: must specify a handler type",
        "spec.containers[0].readinessProbe.httpGet: Forbidden: may not specify more than 1 handler type",
        "spec.containers[0].readinessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type",
    ]


def test_probe_numbers_and_termination_grace_period() -> None:
    nonnegative = "must be greater than or equal to 0"
    assert pod_errors(
        """
        containers:
        - name: a
          image: b
          startupProbe:
            tcpSocket: {port: http}
            initialDelaySeconds: -1
            failureThreshold: -3
            successThreshold: 3
            terminationGracePeriodSeconds: 0
          readinessProbe:
            grpc: {port: 70000}
            terminationGracePeriodSeconds: 10
            periodSeconds: 0
        """
    ) == [
        # Upstream checks liveness, then readiness, then startup.
        f"spec.containers[0].readinessProbe.grpc.port: Invalid value: 70000: {PORT_RANGE}",
        "spec.containers[0].readinessProbe.terminationGracePeriodSeconds: Invalid value: 10: "
        "must not be set for readinessProbes",
        f"spec.containers[0].startupProbe.initialDelaySeconds: Invalid value: -1: {nonnegative}",
        f"spec.containers[0].startupProbe.failureThreshold: Invalid value: -3: {nonnegative}",
        "spec.containers[0].startupProbe.terminationGracePeriodSeconds: Invalid value: 0: "
        "must be greater than 0",
        "spec.containers[0].startupProbe.successThreshold: Invalid value: 3: must be 1",
    ]


def test_zero_probe_values_are_defaulted_before_validation() -> None:
    # SetDefaults_Probe turns 0 into the default, so the API server accepts these.
    result = load_yaml(
        pod(
            """
            containers:
            - name: a
              image: b
              livenessProbe: {tcpSocket: {port: 80}, periodSeconds: 0, successThreshold: 0, timeoutSeconds: 0}
            """
        )
    )
    assert result.ok
    probe = result.objects[0].obj.to_json()["spec"]["containers"][0]["livenessProbe"]
    assert (probe["periodSeconds"], probe["successThreshold"], probe["timeoutSeconds"]) == (10, 1, 1)


def test_http_get_scheme_port_name_and_headers() -> None:
    assert pod_errors(
        """
        containers:
        - name: a
          image: b
          livenessProbe:
            httpGet: {port: "8080", scheme: http, httpHeaders: [{name: "X Bad", value: v}]}
        """
    ) == [
        'spec.containers[0].livenessProbe.httpGet.port: Invalid value: "8080": '
        "must contain at least one letter (a-z)",
        'spec.containers[0].livenessProbe.httpGet.scheme: Unsupported value: "http": '
        'supported values: "HTTP", "HTTPS"',
        'spec.containers[0].livenessProbe.httpGet.httpHeaders: Invalid value: "X Bad": '
        "a valid HTTP header must consist of alphanumeric characters or '-' "
        "(e.g. 'X-Header-Name', regex used for validation is '[-A-Za-z0-9]+')",
    ]


def test_lifecycle_hooks_sleep_and_tcp_socket() -> None:
    # tcpSocket in a hook is deprecated but upstream validation still accepts it.
    sleep_rule = "must be non-negative and less than terminationGracePeriodSeconds (20)"
    assert pod_errors(
        """
        terminationGracePeriodSeconds: 20
        containers:
        - name: a
          image: b
          lifecycle:
            postStart: {tcpSocket: {port: 80}}
            preStop: {sleep: {seconds: 21}}
        - name: c
          image: b
          lifecycle:
            preStop: {sleep: {seconds: -1}}
        - name: d
          image: b
          lifecycle:
            preStop: {sleep: {seconds: 0}}
            postStart: {}
        """
    ) == [
        f"spec.containers[0].lifecycle.preStop.sleep: Invalid value: 21: {sleep_rule}",
        f"spec.containers[1].lifecycle.preStop.sleep: Invalid value: -1: {sleep_rule}",
        "spec.containers[2].lifecycle.postStart: Required value: must specify a handler type",
    ]


def test_restart_policies() -> None:
    assert pod_errors(
        """
        restartPolicy: Sometimes
        initContainers:
        - {name: init, image: b, restartPolicy: Never, readinessProbe: {exec: {command: [x]}}}
        - {name: sidecar, image: b, restartPolicy: Always, readinessProbe: {exec: {command: [x]}}}
        containers:
        - {name: a, image: b, restartPolicy: Always}
        """
    ) == [
        "spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers",
        'spec.initContainers[0].restartPolicy: Unsupported value: "Never": supported values: "Always"',
        "spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers without "
        "restartPolicy=Always",
        'spec.restartPolicy: Unsupported value: "Sometimes": '
        'supported values: "Always", "OnFailure", "Never"',
    ]


def test_grace_period_active_deadline_and_dns_policy() -> None:
    assert pod_errors("activeDeadlineSeconds: 0\ncontainers: [{name: a, image: b}]") == [
        "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive"
    ]
    assert pod_errors("dnsPolicy: Cluster\ncontainers: [{name: a, image: b}]") == [
        'spec.dnsPolicy: Unsupported value: "Cluster": supported values: "ClusterFirstWithHostNet", '
        '"ClusterFirst", "Default", "None"'
    ]


def test_volume_mounts_and_volume_names() -> None:
    assert pod_errors(
        """
        volumes:
        - name: data
        - name: data
        - name: Cache
        containers:
        - name: a
          image: b
          volumeMounts:
          - {name: data, mountPath: /data}
          - {name: logs, mountPath: /data}
        """
    ) == [
        'spec.volumes[1].name: Duplicate value: "data"',
        f'spec.volumes[2].name: Invalid value: "Cache": {DNS1123_LABEL_MSG}',
        'spec.containers[0].volumeMounts[1].name: Not found: "logs"',
        'spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/data": must be unique',
    ]


def test_volume_source_required_fields_come_from_the_schema() -> None:
    assert pod_errors("volumes: [{name: h, hostPath: {}}]\ncontainers: [{name: a, image: b}]") == [
        "spec.volumes[0].hostPath.path: Required value"
    ]


def test_host_network_ports_must_match_container_ports() -> None:
    # A Pod's hostPort is defaulted to its containerPort first, so only a different one is wrong.
    assert pod_errors(
        """
        hostNetwork: true
        containers:
        - name: a
          image: b
          ports: [{containerPort: 8080}, {containerPort: 9090, hostPort: 9091}]
        """
    ) == [
        "spec.containers[0].ports[1].hostPort: Invalid value: 9091: must match `containerPort` when "
        "`hostNetwork` is true"
    ]


def test_pod_deletion_cost_annotation_must_be_an_int32() -> None:
    def meta(cost: str) -> str:
        return f'  annotations: {{controller.kubernetes.io/pod-deletion-cost: "{cost}"}}\n'

    for good in ("0", "-5", "-007", "2147483647"):
        assert pod_errors("containers: [{name: a, image: b}]", extra_meta=meta(good)) == []
    for bad in ("+5", "007", "2147483648", "1e3", " 1"):
        assert pod_errors("containers: [{name: a, image: b}]", extra_meta=meta(bad)) == [
            f"metadata.annotations[controller.kubernetes.io/pod-deletion-cost]: Invalid value: "
            f'"{bad}": must be a 32bit integer'
        ]
