from __future__ import annotations

import pytest

from .helpers import check_yaml, good, of


@pytest.mark.parametrize(
    "annotation",
    [
        '{hitless.dev/ignore: "no-pod-disruption-budget, probe-timeline"}',
        '{kube-score/ignore: "deployment-has-poddisruptionbudget"}',
    ],
)
def test_annotations_silence_a_rule_on_their_object(annotation: str) -> None:
    report = check_yaml(good(annotations=annotation))
    assert not of(report, "no-pod-disruption-budget")
    assert report.suppressed >= 1


def test_kube_linter_annotations_silence_mapped_rules_only() -> None:
    bad = good(probes="readinessProbe: {httpGet: {path: /, port: web}}")
    assert of(check_yaml(bad), "probe-port")
    quiet = check_yaml(
        bad.replace(
            "  name: web\nspec:",
            '  name: web\n  annotations: {ignore-check.kube-linter.io/readiness-port: "ok"}\nspec:',
            1,
        )
    )
    assert not of(quiet, "probe-port")
    assert of(quiet, "no-pod-disruption-budget")  # maps to no kube-linter check


def test_invalid_objects_cannot_be_silenced() -> None:
    yaml = good(
        annotations="{hitless.dev/ignore: invalid-object}",
        lifecycle="lifecycle: {preStop: {exec: {command: [sleep, 3]}}}",
    )
    assert of(check_yaml(yaml), "invalid-object")
