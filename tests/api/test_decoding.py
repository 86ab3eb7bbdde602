"""Strict decoding: unknown fields and wrong types, in the API server's words."""

from __future__ import annotations

from hitless.api.schema import quantity_error

from .helpers import formatted, load_yaml, messages, pod

PREFIX = 'Pod in version "v1" cannot be handled as a Pod: '


def decode_errors(spec: str) -> list[str]:
    result = load_yaml(pod(spec))
    assert all(e.category == "decode" for e in result.errors)
    return [m.removeprefix(PREFIX) for m in messages(result)]


def test_unknown_field_typo_livenes_probe() -> None:
    result = load_yaml(
        pod(
            """
            containers:
            - name: app
              image: nginx
              livenesProbe:
                httpGet: {path: /healthz, port: 8080}
            """
        )
    )

    assert formatted(result) == [
        'test.yaml:9: Pod in version "v1" cannot be handled as a Pod: '
        'strict decoding error: unknown field "spec.containers[0].livenesProbe"'
    ]
    error = result.errors[0]
    assert (error.field, error.kind, error.name) == ("spec.containers[0].livenesProbe", "Pod", "web")


def test_every_unknown_field_is_reported_in_document_order() -> None:
    assert decode_errors(
        """
        containers:
        - name: app
          image: nginx
          Ports: []
          readinessProbe: {tcpSocket: {port: 80}, periodSecond: 5}
        restartpolicy: Never
        """
    ) == [
        'strict decoding error: unknown field "spec.containers[0].Ports"',
        'strict decoding error: unknown field "spec.containers[0].readinessProbe.periodSecond"',
        'strict decoding error: unknown field "spec.restartpolicy"',
    ]


def test_wrong_types_name_the_go_struct_field_and_type() -> None:
    assert decode_errors(
        """
        terminationGracePeriodSeconds: "30"
        containers:
        - name: 7
          image: nginx
          ports: {containerPort: 80}
          livenessProbe: yes
          readinessProbe:
            exec: {command: ls}
            periodSeconds: 1.5
            failureThreshold: 3000000000
          stdin: "true"
        """
    ) == [
        "json: cannot unmarshal string into Go struct field PodSpec.spec.terminationGracePeriodSeconds of "
        "type int64",
        "json: cannot unmarshal number into Go struct field Container.spec.containers.name of type string",
        "json: cannot unmarshal object into Go struct field Container.spec.containers.ports of type "
        "[]v1.ContainerPort",
        "json: cannot unmarshal bool into Go struct field Container.spec.containers.livenessProbe of type "
        "v1.Probe",
        "json: cannot unmarshal string into Go struct field "
        "ExecAction.spec.containers.readinessProbe.exec.command "
        "of type []string",
        "json: cannot unmarshal number 1.5 into Go struct field "
        "Probe.spec.containers.readinessProbe.periodSeconds "
        "of type int32",
        "json: cannot unmarshal number 3000000000 into Go struct field "
        "Probe.spec.containers.readinessProbe.failureThreshold of type int32",
        "json: cannot unmarshal string into Go struct field Container.spec.containers.stdin of type bool",
    ]


def test_metadata_and_map_values() -> None:
    result = load_yaml(pod("containers: [{name: a, image: b}]", extra_meta="  labels: {app: 1}\n  nme: x\n"))

    assert messages(result) == [
        PREFIX
        + "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string",
        PREFIX + 'strict decoding error: unknown field "metadata.nme"',
    ]
    assert [e.field for e in result.errors] == ["metadata.labels[app]", "metadata.nme"]


def test_int_or_string_errors_carry_no_struct_context() -> None:
    # intstr.IntOrString.UnmarshalJSON uses the standard library, whose error the decoder cannot enrich.
    assert decode_errors(
        """
        containers:
        - name: a
          image: b
          livenessProbe: {httpGet: {port: true}}
          readinessProbe: {tcpSocket: {port: 1.5}}
        """
    ) == [
        "json: cannot unmarshal bool into Go value of type int32",
        "json: cannot unmarshal number 1.5 into Go value of type int32",
    ]


def test_quantities_are_parsed_by_the_decoder() -> None:
    assert decode_errors(
        """
        containers:
        - name: a
          image: b
          resources:
            limits: {cpu: 1 core, memory: 128Mi}
            requests: {cpu: 0.5, memory: 1Gm}
        """
    ) == [
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
        "unable to parse quantity's suffix",
    ]
    assert quantity_error("500m") is None
    assert quantity_error("1e3") is None
    assert quantity_error("1.2.3") == "unable to parse numeric part of quantity"


def test_deployment_messages_use_the_version_without_group() -> None:
    result = load_yaml(
        """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          replicas: "3"
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec: {containers: [{name: a, image: b}]}
        """
    )

    assert messages(result) == [
        'Deployment in version "v1" cannot be handled as a Deployment: '
        "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"
    ]


def test_null_is_accepted_anywhere_as_go_does() -> None:
    result = load_yaml(
        pod("containers: [{name: a, image: b, ports: null, command: [x, null]}]\nnodeSelector: null")
    )

    assert result.ok
