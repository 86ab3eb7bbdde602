"""The kind registry: every served kind is emulated, stored or refused; the rest is kubectl's
"no matches for kind"; cluster-scoped kinds have no namespace."""

from __future__ import annotations

import json

import pytest

from hitless.api import kinds, schema
from hitless.api.types.generic import GenericObject
from hitless.api.types.policy import PodDisruptionBudget

from .helpers import load_yaml


def _schema_kinds() -> set[tuple[str, str, str]]:
    """Every top-level kind of the 1.34 schema set: an object with metadata, not a List."""
    defs = json.loads((schema._schema_dir() / "_definitions.json").read_text())["$defs"]
    out = set()
    for name, d in defs.items():
        gvks = d.get("x-kubernetes-group-version-kind") or []
        if name.endswith("List") or "metadata" not in (d.get("properties") or {}):
            continue
        out |= {(g["group"], g["version"], g["kind"]) for g in gvks}
    return out


def test_the_registry_is_the_schema_sets_ga_kinds() -> None:
    ga = {
        gvk
        for gvk in _schema_kinds()
        if gvk[1].startswith("v") and gvk[1][1:].isdigit() and gvk not in kinds.SUBRESOURCE_BODIES
    }
    registry = {(k.group, k.version, k.kind) for k in kinds.BUILTIN}
    assert registry == ga
    for k in kinds.BUILTIN:  # every kind decodes against its own schema file
        assert (schema._schema_dir() / schema.schema_name(k.kind, k.api_version)).exists(), k


def test_kubectls_words_for_a_kind_or_version_no_cluster_serves() -> None:
    result = load_yaml(
        """
        apiVersion: v1
        kind: service
        metadata: {name: web}
        ---
        apiVersion: v1
        kind: Deployment
        metadata: {name: web, namespace: shop}
        ---
        apiVersion: networking.k8s.io/v1beta1
        kind: IPAddress
        metadata: {name: 10.0.0.1}
        """,
        file="file.yaml",
    )

    assert result.objects == []
    assert [e.format() for e in result.errors] == [
        'file.yaml:1: resource mapping not found for name: "web" namespace: "" from "file.yaml": '
        'no matches for kind "service" in version "v1"\nensure CRDs are installed first',
        'file.yaml:5: resource mapping not found for name: "web" namespace: "shop" from "file.yaml": '
        'no matches for kind "Deployment" in version "v1"\nensure CRDs are installed first',
        'file.yaml:9: resource mapping not found for name: "10.0.0.1" namespace: "" from "file.yaml": '
        'no matches for kind "IPAddress" in version "networking.k8s.io/v1beta1"\n'
        "ensure CRDs are installed first",
    ]


def test_stored_kinds_are_decoded_strictly_and_keep_every_field() -> None:
    text = """
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRole
        metadata: {name: reader, namespace: ignored}
        rules: [{apiGroups: [""], resources: [pods], verbs: [get, list]}]
        ---
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata: {name: web}
        spec:
          rules: [{host: a.example, http: {paths: [{path: /, pathType: Prefix,
                   backend: {service: {name: web, port: {number: 80}}}}]}}]
        ---
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: deny}
        spec: {podSelector: {}, policyTypes: [Ingres]}
        ---
        apiVersion: v1
        kind: ServiceAccount
        metadata: {name: web}
        automountServiceAccountToken: "yes"
        ---
        apiVersion: scheduling.k8s.io/v1
        kind: PriorityClass
        metadata: {name: high}
        value: 1000
        descripton: typo
        """
    result = load_yaml(text)

    role, ingress, policy = (o.obj for o in result.objects)
    assert isinstance(role, GenericObject) and result.handling(role) == "stored"
    # Cluster-scoped: the namespace written is dropped, as rest.BeforeCreate does.
    assert role.key == ("ClusterRole", "", "reader")
    assert role.to_json() == {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "reader"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
    }
    assert ingress.key == ("Ingress", "default", "web")
    assert ingress.to_json()["spec"]["rules"][0]["host"] == "a.example"
    assert policy.to_json()["spec"]["policyTypes"] == ["Ingres"]  # enum values: not checked here
    assert [e.message for e in result.errors] == [
        'ServiceAccount in version "v1" cannot be handled as a ServiceAccount: json: cannot unmarshal '
        "string into Go struct field ServiceAccount.automountServiceAccountToken of type bool",
        'PriorityClass in version "v1" cannot be handled as a PriorityClass: strict decoding error: '
        'unknown field "descripton"',
    ]


def test_stored_kinds_get_their_metadata_validated_with_their_name_rule() -> None:
    result = load_yaml(
        """
        apiVersion: v1
        kind: ServiceAccount
        metadata: {name: Web}
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: Role
        metadata: {name: "system:reader"}
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: Role
        metadata: {name: "a/b"}
        """
    )

    assert [o.obj.name for o in result.objects] == ["system:reader"]
    assert [e.message.split(": ", 1)[0] for e in result.errors] == [
        'ServiceAccount "Web" is invalid',
        'Role.rbac.authorization.k8s.io "a/b" is invalid',
    ]
    assert result.errors[1].message.endswith("metadata.name: Invalid value: \"a/b\": may not contain '/'")


@pytest.mark.parametrize(
    ("kind", "api_version", "message"),
    [
        ("Node", "v1", "hitless emulates its own nodes"),
        ("TokenReview", "authentication.k8s.io/v1", "cannot be applied"),
    ],
)
def test_kinds_kubectl_apply_cannot_create_are_refused(kind: str, api_version: str, message: str) -> None:
    result = load_yaml(f"apiVersion: {api_version}\nkind: {kind}\nmetadata: {{name: x}}\n")

    assert result.objects == []
    assert message in result.errors[0].message


def test_a_pod_disruption_budget_is_typed() -> None:
    result = load_yaml(
        """
        apiVersion: policy/v1
        kind: PodDisruptionBudget
        metadata: {name: web}
        spec: {maxUnavailable: 1, selector: {matchLabels: {app: web}}}
        """
    )

    (pdb,) = result.of_type(PodDisruptionBudget)
    assert pdb.spec.max_unavailable == 1 and pdb.spec.selector is not None
    assert pdb.spec.selector.matches({"app": "web"})
    assert result.handling(pdb) == "emulated"


def test_docs_kinds_md_lists_every_kind_of_the_registry() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "kinds.md").read_text()
    for k in kinds.BUILTIN:
        scope = "namespaced" if k.namespaced else "cluster"
        assert f"| `{k.kind}` | `{k.api_version}` | {scope} | {k.handling} |" in doc, k


def test_a_pod_disruption_budget_is_validated_as_the_api_server_does() -> None:
    result = load_yaml(
        """
        apiVersion: policy/v1
        kind: PodDisruptionBudget
        metadata: {name: both}
        spec: {minAvailable: 1, maxUnavailable: "150%", unhealthyPodEvictionPolicy: Never}
        ---
        apiVersion: policy/v1
        kind: PodDisruptionBudget
        metadata: {name: Negative_Name}
        spec: {minAvailable: -1, selector: {matchLabels: {app: web}}}
        """
    )

    assert result.objects == []
    assert [e.message.split(" is invalid: ")[1] for e in result.errors] == [
        "spec: Invalid value: policy.PodDisruptionBudgetSpec{MinAvailable:intstr.IntOrString{Type:0, "
        'IntVal:1, StrVal:""}, MaxUnavailable:intstr.IntOrString{Type:1, IntVal:0, StrVal:"150%"}}: '
        "minAvailable and maxUnavailable cannot be both set",
        'spec.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:"150%"}: must not '
        "be greater than 100%",
        'spec.unhealthyPodEvictionPolicy: Unsupported value: "Never": supported values: "AlwaysAllow", '
        '"IfHealthyBudget"',
        "spec.minAvailable: Invalid value: -1: must be greater than or equal to 0",
    ]
