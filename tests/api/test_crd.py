"""Custom resources: accepted once their CustomResourceDefinition is in the input, validated against
its openAPIV3Schema, stored with its scope; otherwise kubectl's "no matches for kind"."""

from __future__ import annotations

import time

from hitless.api import crd
from hitless.api.fieldpath import Path
from hitless.api.types.generic import GenericObject

from .helpers import load_yaml

CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: crontabs.stable.example.com}}
spec:
  group: stable.example.com
  scope: {scope}
  names: {{plural: crontabs, singular: crontab, kind: CronTab}}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [cronSpec]
              properties:
                cronSpec: {{type: string}}
                replicas: {{type: integer, minimum: 1, default: 1}}
                schedule: {{type: string, pattern: "^[0-9*/ ,-]+$"}}
                tags: {{type: array, minItems: 1, items: {{type: string}}}}
                mode: {{type: string, enum: [fast, slow]}}
                extra: {{type: object, x-kubernetes-preserve-unknown-fields: true}}
    - name: v2
      served: false
      storage: false
"""


def cron(spec: str, version: str = "v1", meta: str = "{name: c}") -> str:
    return f"apiVersion: stable.example.com/{version}\nkind: CronTab\nmetadata: {meta}\nspec: {spec}\n"


def test_a_custom_resource_before_its_crd_is_accepted_and_stored_verbatim() -> None:
    result = load_yaml(
        cron("{cronSpec: '* * * * *', replicas: 2, extra: {anything: [1]}}")
        + "---"
        + CRD.format(scope="Namespaced")
    )

    assert result.errors == []
    crd, cr = (o.obj for o in result.objects)
    assert crd.kind == "CustomResourceDefinition" and crd.key[1] == ""
    assert isinstance(cr, GenericObject) and result.handling(cr) == "stored"
    assert cr.key == ("CronTab", "default", "c")
    assert cr.to_json()["spec"] == {"cronSpec": "* * * * *", "replicas": 2, "extra": {"anything": [1]}}


def test_a_cluster_scoped_custom_resource_has_no_namespace() -> None:
    result = load_yaml(
        CRD.format(scope="Cluster") + "---\n" + cron("{cronSpec: x}", meta="{name: c, namespace: x}")
    )

    assert result.errors == []
    cr = result.objects[1].obj
    assert cr.key == ("CronTab", "", "c")
    assert cr.copy_deep().key == ("CronTab", "", "c")  # the scope survives a copy (the store copies)


def test_custom_resources_are_validated_against_the_crd_schema() -> None:
    result = load_yaml(
        CRD.format(scope="Namespaced")
        + "---\n"
        + cron("{replicas: two, mode: medium}")
        + "---\n"
        + cron("{cronSpec: x, typo: 1}", meta="{name: d}")
    )

    assert [e.message for e in result.errors] == [
        'CronTab.stable.example.com "c" is invalid: spec.replicas: Invalid value: "two": spec.replicas in '
        'body must be of type integer: "string"',
        'CronTab.stable.example.com "c" is invalid: spec.mode: Unsupported value: "medium": supported '
        'values: "fast", "slow"',
        'CronTab.stable.example.com "c" is invalid: spec.cronSpec: Required value',
        'CronTab in version "v1" cannot be handled as a CronTab: strict decoding error: '
        'unknown field "spec.typo"',
    ]
    assert [o.obj.kind for o in result.objects] == ["CustomResourceDefinition"]


def test_without_its_crd_or_in_a_version_not_served_a_custom_resource_is_refused() -> None:
    result = load_yaml(
        cron("{cronSpec: x}") + "---" + CRD.format(scope="Namespaced") + "---\n" + cron("{}", "v2")
    )

    assert [e.line for e in result.errors] == [35]
    assert 'no matches for kind "CronTab" in version "stable.example.com/v2"' in result.errors[0].message
    alone = load_yaml(cron("{cronSpec: x}"))
    assert alone.errors[0].message.startswith('resource mapping not found for name: "c" namespace: ""')


def test_schema_defaults_are_filled_in_and_bounds_checked_in_kube_openapis_words() -> None:
    result = load_yaml(
        CRD.format(scope="Namespaced")
        + "---\n"
        + cron("{cronSpec: x}")
        + "---\n"
        + cron("{cronSpec: x, replicas: 0, schedule: 'every day', tags: []}", meta="{name: d}")
    )

    assert result.objects[1].obj.to_json()["spec"] == {"cronSpec": "x", "replicas": 1}
    assert [e.message.split(" is invalid: ")[1] for e in result.errors] == [
        "spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1",
        "spec.schedule: Invalid value: \"every day\": spec.schedule in body should match '^[0-9*/ ,-]+$'",
        "spec.tags: Invalid value: []interface {}{}: spec.tags in body should have at least 1 items",
    ]


def test_a_crd_s_name_group_and_scope_are_checked() -> None:
    crd = CRD.format(scope="Everywhere").replace("name: crontabs.stable.example.com", "name: crontab.stable")
    result = load_yaml(crd.replace("group: stable.example.com", "group: stable"))

    assert [e.message.split(" is invalid: ")[1] for e in result.errors] == [
        'metadata.name: Invalid value: "crontab.stable": must be spec.names.plural+"."+spec.group',
        'spec.group: Invalid value: "stable": should be a domain with at least one dot',
        'spec.scope: Unsupported value: "Everywhere": supported values: "Cluster", "Namespaced"',
    ]
    assert result.errors[0].message.startswith(
        'CustomResourceDefinition.apiextensions.k8s.io "crontab.stable" is invalid'
    )


def test_a_pattern_python_would_backtrack_on_for_ever_is_not_judged() -> None:
    crd = CRD.format(scope="Namespaced").replace('pattern: "^[0-9*/ ,-]+$"', 'pattern: "^(a+)+$"')
    start = time.perf_counter()
    result = load_yaml(crd + "---\n" + cron("{cronSpec: x, schedule: '" + "a" * 40 + "!'}"))

    assert result.errors == [] and time.perf_counter() - start < 5


def test_odd_values_deep_in_a_schema_constrain_nothing_and_never_crash() -> None:
    # Strict decoding checks a CRD's schema only to some depth (the schema set cuts the recursion
    # of JSONSchemaProps); below it, anything may stand where a schema, a list or a number belongs.
    odd = {"type": "object", "properties": {"a": 3, "b": {"minimum": "x", "enum": 1}, "c": {"items": [1]}},
           "required": 7, "additionalProperties": "no"}  # fmt: skip
    value = {"a": [1], "b": 5, "c": [2], "d": {}}
    crd.apply_schema_defaults(value, odd)
    unknown: list[Path] = []

    assert crd._validate(value, odd, Path.new("spec"), unknown) == []
    assert unknown == [Path.new("spec", "d")]


def test_a_custom_resources_metadata_decodes_as_every_objects() -> None:
    result = load_yaml(
        CRD.format(scope="Namespaced") + "---\n" + cron("{cronSpec: x}", meta="{name: c, labels: {a: {}}}")
    )

    assert [e.message for e in result.errors] == [
        'CronTab in version "v1" cannot be handled as a CronTab: json: cannot unmarshal object into Go '
        "struct field ObjectMeta.metadata.labels of type string"
    ]
