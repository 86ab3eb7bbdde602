"""Service validation: ValidateService in pkg/apis/core/validation/validation.go."""

from __future__ import annotations

import textwrap

from .helpers import LABEL_VALUE_MSG, formatted, invalid, load_yaml

PREFIX = 'Service "web" is invalid: '


def service(spec: str, name: str = "web") -> str:
    body = textwrap.indent(textwrap.dedent(spec).strip("\n"), "  ")
    return f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n{body}\n"


def errors(spec: str, name: str = "web") -> list[str]:
    return invalid(load_yaml(service(spec, name)), f'Service "{name}" is invalid: ')


def test_name_is_a_dns_1035_label() -> None:
    assert errors("ports: [{port: 80}]", name="1web") == [
        'metadata.name: Invalid value: "1web": a DNS-1035 label must consist of lower case alphanumeric '
        "characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. "
        "'my-name' or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
    ]


def test_type_and_ports_required() -> None:
    assert errors("type: Ingress\nports: [{port: 80}]") == [
        'spec.type: Unsupported value: "Ingress": supported values: "ClusterIP", "ExternalName", '
        '"LoadBalancer", '
        '"NodePort"'
    ]
    assert errors("selector: {app: web}") == ["spec.ports: Required value"]
    assert load_yaml(service("clusterIP: None\nselector: {app: web}")).ok  # headless
    assert errors("type: ExternalName") == ["spec.externalName: Required value"]


def test_ports_ranges_names_and_protocols() -> None:
    assert errors(
        """
        type: NodePort
        ports:
        - {name: http, port: 0, targetPort: 70000, protocol: TCP}
        - {port: 81, targetPort: Web, protocol: HTTP}
        - {name: http, port: 82, nodePort: 30080}
        """
    ) == [
        "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
        "spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
        "spec.ports[1].name: Required value",
        'spec.ports[1].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"',
        'spec.ports[1].targetPort: Invalid value: "Web": must contain only alpha-numeric characters (a-z, '
        "0-9), "
        "and hyphens (-)",
        'spec.ports[2].name: Duplicate value: "http"',
    ]


def test_node_ports() -> None:
    assert errors("ports: [{port: 80, nodePort: 30080}]") == [
        "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"
    ]
    # The allocator rejects a port outside the range before validation runs.
    result = load_yaml(service("type: NodePort\nports: [{name: a, port: 80, nodePort: 80}, {port: 0}]"))
    assert formatted(result) == [
        "test.yaml:7: "
        + PREFIX
        + "spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. "
        "The range of valid ports is 30000-32767"
    ]


def test_external_traffic_policy_and_health_check_node_port() -> None:
    assert errors("externalTrafficPolicy: Local\nports: [{port: 80}]") == [
        'spec.externalTrafficPolicy: Invalid value: "Local": may only be set for externally-accessible '
        "services"
    ]
    assert errors("type: NodePort\nexternalTrafficPolicy: Nearby\nports: [{port: 80}]") == [
        'spec.externalTrafficPolicy: Unsupported value: "Nearby": supported values: "Cluster", "Local"'
    ]
    assert errors("type: LoadBalancer\nhealthCheckNodePort: 31000\nports: [{port: 80}]") == [
        "spec.healthCheckNodePort: Invalid value: 31000: may only be set when `type` is 'LoadBalancer' and "
        "`externalTrafficPolicy` is 'Local'"
    ]
    assert load_yaml(
        service(
            "type: LoadBalancer\nexternalTrafficPolicy: Local\nhealthCheckNodePort: 31000\nports: [{port: "
            "80}]"
        )
    ).ok


def test_internal_traffic_policy_session_affinity_and_selector() -> None:
    assert errors(
        """
        internalTrafficPolicy: Node
        sessionAffinity: Sticky
        selector: {app: "web server"}
        ports: [{port: 80}]
        """
    ) == [
        f'spec.selector: Invalid value: "web server": {LABEL_VALUE_MSG}',
        'spec.sessionAffinity: Unsupported value: "Sticky": supported values: "ClientIP", "None"',
        'spec.internalTrafficPolicy: Unsupported value: "Node": supported values: "Cluster", "Local"',
    ]
    assert errors(
        "sessionAffinity: ClientIP\nsessionAffinityConfig: {clientIP: {timeoutSeconds: 0}}\nports: [{port: "
        "80}]"
    ) == [
        "spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 0: must be greater than 0 and "
        "less than "
        "86400"
    ]


def test_duplicate_port_and_protocol() -> None:
    assert errors("ports: [{name: a, port: 80}, {name: b, port: 80}]") == [
        'spec.ports[1]: Duplicate value: core.ServicePort{Name:"", Protocol:"TCP", '
        "AppProtocol:(*string)(nil), "
        'Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}'
    ]
    assert load_yaml(service("ports: [{name: a, port: 53}, {name: b, port: 53, protocol: UDP}]")).ok


def test_load_balancer_class() -> None:
    assert errors("loadBalancerClass: example.com/lb\nports: [{port: 80}]") == [
        "spec.loadBalancerClass: Forbidden: may only be used when `type` is 'LoadBalancer'"
    ]
    assert errors("type: LoadBalancer\nloadBalancerClass: a/b/c\nports: [{port: 80}]") == [
        'spec.loadBalancerClass: Invalid value: "a/b/c": a qualified name must consist of alphanumeric '
        "characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName' "
        "or 'my.name' or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') "
        "with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
    ]
    assert load_yaml(
        service("type: LoadBalancer\nloadBalancerClass: service.k8s.aws/nlb\nports: [{port: 80}]")
    ).ok


def test_a_written_empty_internal_traffic_policy_is_not_defaulted() -> None:
    assert errors('internalTrafficPolicy: ""\nports: [{port: 80}]') == [
        'spec.internalTrafficPolicy: Unsupported value: "": supported values: "Cluster", "Local"'
    ]
