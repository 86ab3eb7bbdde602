"""dnsConfig is validated as the API server does (validatePodDNSConfig), with its messages and paths."""

from __future__ import annotations

from tests.api.helpers import invalid, load_yaml, pod


def pod_errors(spec: str) -> list[str]:
    return invalid(load_yaml(pod(spec)), 'Pod "web" is invalid: ')


def test_none_needs_a_dns_config_with_a_nameserver() -> None:
    assert pod_errors("dnsPolicy: None\ncontainers: [{name: a, image: b}]") == [
        "spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None"
    ]
    assert pod_errors("dnsPolicy: None\ndnsConfig: {searches: [a.b]}\ncontainers: [{name: a, image: b}]") == [
        "spec.dnsConfig.nameservers: Required value: "
        "must provide at least one DNS nameserver when `dnsPolicy` is None"
    ]


def test_nameservers_searches_and_options() -> None:
    spec = """dnsConfig:
  nameservers: [1.1.1.1, 1.0.0.1, 8.8.8.8, not-an-ip]
  searches: [ok.example., Bad_Domain]
  options: [{value: "2"}]
containers: [{name: a, image: b}]"""
    assert pod_errors(spec) == [
        'spec.dnsConfig.nameservers: Invalid value: []string{"1.1.1.1", "1.0.0.1", "8.8.8.8", "not-an-ip"}: '
        "must not have more than 3 nameservers",
        'spec.dnsConfig.nameservers[3]: Invalid value: "not-an-ip": must be a valid IP address, '
        "(e.g. 10.9.8.7 or 2001:db8::ffff)",
        'spec.dnsConfig.searches[1]: Invalid value: "Bad_Domain": a lowercase RFC 1123 subdomain must '
        "consist of lower case alphanumeric characters, '-' or '.', and must start and end with an "
        "alphanumeric character (e.g. 'example.com', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        "spec.dnsConfig.options[0]: Required value: must not be empty",
    ]
