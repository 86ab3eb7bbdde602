"""Deployment validation: pkg/apis/apps/validation/validation.go."""

from __future__ import annotations

import textwrap

from .helpers import NAME_PART_MSG, formatted, invalid, load_yaml

PREFIX = 'Deployment.apps "web" is invalid: '


def deployment(
    spec: str, labels: str = "{app: web}", pod_spec: str = "containers: [{name: a, image: b}]"
) -> str:
    body = textwrap.indent(textwrap.dedent(spec).strip("\n"), "  ")
    return (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n"
        f"{body}\n  template:\n    metadata:\n      labels: {labels}\n    spec:\n"
        f"{textwrap.indent(pod_spec, '      ')}\n"
    )


def errors(spec: str, **kw: str) -> list[str]:
    return invalid(load_yaml(deployment(spec, **kw)), PREFIX)


def test_max_surge_and_max_unavailable_both_zero() -> None:
    result = load_yaml(
        deployment(
            """
            selector: {matchLabels: {app: web}}
            strategy:
              rollingUpdate:
                maxSurge: 0
                maxUnavailable: 0
            """
        )
    )

    assert formatted(result) == [
        "test.yaml:10: " + PREFIX + "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "
        'intstr.IntOrString{Type:0, IntVal:0, StrVal:""}: may not be 0 when `maxSurge` is 0'
    ]


def test_percentages_both_zero_and_over_100() -> None:
    assert errors(
        """
        selector: {matchLabels: {app: web}}
        strategy: {rollingUpdate: {maxSurge: "0%", maxUnavailable: "0%"}}
        """
    ) == [
        "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "
        'intstr.IntOrString{Type:1, IntVal:0, StrVal:"0%"}: may not be 0 when `maxSurge` is 0'
    ]
    assert errors(
        """
        selector: {matchLabels: {app: web}}
        strategy: {rollingUpdate: {maxSurge: 5%x, maxUnavailable: "101%"}}
        """
    ) == [
        "spec.strategy.rollingUpdate.maxSurge: Invalid value: "
        'intstr.IntOrString{Type:1, IntVal:0, StrVal:"5%x"}: '
        "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%' or '93%', "
        "regex used for validation is '[0-9]+%')",
        "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "
        'intstr.IntOrString{Type:1, IntVal:0, StrVal:"101%"}: must not be greater than 100%',
    ]
    # maxSurge over 100% is allowed (upstream checks only maxUnavailable).
    assert load_yaml(
        deployment("selector: {matchLabels: {app: web}}\nstrategy: {rollingUpdate: {maxSurge: 200%}}")
    ).ok


def test_selector_required_and_must_match_template_labels() -> None:
    assert errors("replicas: 2") == [
        "spec.selector: Required value",
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: '
        "`selector` does not match template `labels`",
    ]
    assert errors("selector: {matchExpressions: [{key: app, operator: NotIn, values: [web]}]}") == [
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: '
        "`selector` does not match template `labels`",
    ]
    assert load_yaml(deployment("selector: {matchExpressions: [{key: app, operator: Exists}]}")).ok


def test_empty_and_malformed_selectors() -> None:
    # ErrorBody dereferences the *LabelSelector; its String() is on the pointer, so Go prints %#v.
    assert errors("selector: {}") == [
        "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment"
    ]
    assert errors("selector: {matchLabels: {}, matchExpressions: []}") == [
        "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{}, "
        "MatchExpressions:[]v1.LabelSelectorRequirement{}}: empty selector is invalid for deployment"
    ]
    assert errors("selector: {matchExpressions: [{key: app, operator: Equals, values: [web]}]}") == [
        'spec.selector.matchExpressions[0].operator: Invalid value: "Equals": not a valid selector operator',
        "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:"
        '[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{Key:"app", Operator:"Equals", '
        'Values:[]string{"web"}}}}: invalid label selector',
    ]


def test_template_restart_policy_and_deadline() -> None:
    assert errors(
        "selector: {matchLabels: {app: web}}",
        pod_spec="restartPolicy: OnFailure\nactiveDeadlineSeconds: 30\ncontainers: [{name: a, image: b}]",
    ) == [
        'spec.template.spec.restartPolicy: Unsupported value: "OnFailure": supported values: "Always"',
        "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in ReplicaSet is not "
        "Supported",
    ]


def test_template_pod_spec_is_validated_with_template_paths() -> None:
    assert errors(
        "selector: {matchLabels: {app: web}}",
        labels='{app: web, "bad key": x}',
        pod_spec=(
            "containers: [{name: a, image: b, livenessProbe: {exec: {command: [x]}, successThreshold: 3}}]"
        ),
    ) == [
        f'spec.template.labels: Invalid value: "bad key": {NAME_PART_MSG}',
        "spec.template.spec.containers[0].livenessProbe.successThreshold: Invalid value: 3: must be 1",
    ]


def test_strategy_types() -> None:
    assert errors(
        """
        selector: {matchLabels: {app: web}}
        strategy: {type: Recreate, rollingUpdate: {maxSurge: 1}}
        """
    ) == ["spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"]
    assert errors("selector: {matchLabels: {app: web}}\nstrategy: {type: BlueGreen}") == [
        'spec.strategy: Unsupported value: apps.DeploymentStrategy{Type:"BlueGreen", '
        "RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}: "
        'supported values: "Recreate", "RollingUpdate"'
    ]


def test_counts_and_deadlines() -> None:
    assert errors(
        """
        replicas: -1
        selector: {matchLabels: {app: web}}
        minReadySeconds: -5
        revisionHistoryLimit: -1
        """
    ) == [
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
        "spec.minReadySeconds: Invalid value: -5: must be greater than or equal to 0",
        "spec.revisionHistoryLimit: Invalid value: -1: must be greater than or equal to 0",
    ]
    # A written 0 is kept (only an absent value is defaulted to 600).
    assert errors("selector: {matchLabels: {app: web}}\nprogressDeadlineSeconds: 0") == [
        "spec.progressDeadlineSeconds: Invalid value: 0: must be greater than minReadySeconds"
    ]
    assert errors("selector: {matchLabels: {app: web}}\nminReadySeconds: 600") == [
        "spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds"
    ]
    assert load_yaml(deployment("replicas: 0\nselector: {matchLabels: {app: web}}")).ok


def test_host_network_template_may_leave_host_ports_unset() -> None:
    pod_spec = "hostNetwork: true\ncontainers: [{name: a, image: b, ports: [{containerPort: 80}, "
    assert errors(
        "selector: {matchLabels: {app: web}}", pod_spec=pod_spec + "{containerPort: 81, hostPort: 82}]}]"
    ) == [
        "spec.template.spec.containers[0].ports[1].hostPort: Invalid value: 82: must match `containerPort` "
        "when `hostNetwork` is true"
    ]


def test_a_written_empty_max_surge_is_not_defaulted() -> None:
    # maxSurge is a *IntOrString: "" is set (a string), so defaulting leaves it for validation.
    assert errors('selector: {matchLabels: {app: web}}\nstrategy: {rollingUpdate: {maxSurge: ""}}') == [
        "spec.strategy.rollingUpdate.maxSurge: Invalid value: "
        'intstr.IntOrString{Type:1, IntVal:0, StrVal:""}: '
        "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%' or '93%', "
        "regex used for validation is '[0-9]+%')"
    ]
