"""field.Error's text (k8s.io/apimachinery/pkg/util/validation/field/errors.go) and its aggregate."""

from __future__ import annotations

from hitless.api import errors as fe
from hitless.api import gofmt
from hitless.api.errors import ErrorType, LoadError, invalid_message
from hitless.api.fieldpath import Path, parse

P = Path.new("spec").child("containers").index(0).child("name")


def test_path_renders_children_indexes_and_keys() -> None:
    assert str(P) == "spec.containers[0].name"
    assert (
        str(Path.new("metadata", "annotations").key("example.com/x")) == "metadata.annotations[example.com/x]"
    )
    assert P.segments == ("spec", "containers", 0, "name")
    assert parse("spec.containers[0].livenessProbe.httpGet[port]") == (
        "spec",
        "containers",
        0,
        "livenessProbe",
        "httpGet",
        "port",
    )


def test_invalid_value_prints_strings_quoted_and_numbers_bare() -> None:
    assert str(fe.invalid(P, "Web_1", "bad")) == 'spec.containers[0].name: Invalid value: "Web_1": bad'
    assert str(fe.invalid(P, 2, "must be 1")) == "spec.containers[0].name: Invalid value: 2: must be 1"
    assert str(fe.invalid(P, True, "x")) == "spec.containers[0].name: Invalid value: true: x"
    assert str(fe.invalid(P, None, "x")) == 'spec.containers[0].name: Invalid value: "null": x'
    assert (
        str(fe.invalid(P, 'say "hi"\n', "x"))
        == 'spec.containers[0].name: Invalid value: "say \\"hi\\"\\n": x'
    )
    assert str(fe.invalid(P, gofmt.intstr("25%"), "x")) == (
        'spec.containers[0].name: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:"25%"}: x'
    )
    assert str(fe.invalid(P, gofmt.intstr(3), "x")) == (
        'spec.containers[0].name: Invalid value: intstr.IntOrString{Type:0, IntVal:3, StrVal:""}: x'
    )
    assert str(fe.invalid(P, gofmt.string_map({"b": "2", "a": "1"}), "x")) == (
        'spec.containers[0].name: Invalid value: map[string]string{"a":"1", "b":"2"}: x'
    )


def test_required_forbidden_and_too_long_print_no_value() -> None:
    assert str(fe.required(P)) == "spec.containers[0].name: Required value"
    assert str(fe.required(P, "must specify a handler type")) == (
        "spec.containers[0].name: Required value: must specify a handler type"
    )
    assert str(fe.forbidden(P, "may not be set")) == "spec.containers[0].name: Forbidden: may not be set"
    assert str(fe.too_long(P, 10)) == "spec.containers[0].name: Too long: may not be more than 10 bytes"


def test_unsupported_duplicate_and_not_found() -> None:
    assert str(fe.not_supported(P, "Sometimes", ["Always", "OnFailure", "Never"])) == (
        'spec.containers[0].name: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", '
        '"Never"'
    )
    assert str(fe.duplicate(P, "app")) == 'spec.containers[0].name: Duplicate value: "app"'
    assert str(fe.not_found(P, "data")) == 'spec.containers[0].name: Not found: "data"'


def test_error_types_carry_the_status_cause_reason() -> None:
    error = fe.required(P)
    assert error.type is ErrorType.REQUIRED
    assert error.type.value == "FieldValueRequired"
    assert error.body() == "Required value"


def test_aggregate_is_bare_for_one_error_and_bracketed_for_several() -> None:
    one = fe.required(P)
    two = fe.invalid(Path.new("spec", "replicas"), -1, "must be greater than or equal to 0")

    assert (
        invalid_message("Pod", "web", [one])
        == 'Pod "web" is invalid: spec.containers[0].name: Required value'
    )
    assert invalid_message("Deployment.apps", "web", [one, two, one]) == (
        'Deployment.apps "web" is invalid: [spec.containers[0].name: Required value, '
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0]"
    )


def test_load_error_format() -> None:
    error = LoadError("pod.yaml", 14, 'Pod "web" is invalid: x', "invalid", "Pod", "web")
    assert error.format() == 'pod.yaml:14: Pod "web" is invalid: x'
    assert LoadError("gone.yaml", 0, "missing", "file").format() == "gone.yaml: missing"


def test_go_value_formatting() -> None:
    assert gofmt.quote("é\x01\t") == '"é\\x01\\t"'
    assert gofmt.float_v(1e6) == "1e+06"
    assert gofmt.float_v(2.5) == "2.5"
    assert gofmt.string_map(None).text == "map[string]string(nil)"
    assert gofmt.label_selector(None).text == '"null"'
    assert gofmt.label_selector({"matchLabels": {"b": "2", "a": "1"}}).text == (
        'v1.LabelSelector{MatchLabels:map[string]string{"a":"1", "b":"2"}, '
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"
    )
    assert gofmt.label_selector({"matchExpressions": [{"key": "k", "operator": "Exists"}]}).text == (
        "v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement{"
        'v1.LabelSelectorRequirement{Key:"k", Operator:"Exists", Values:[]string(nil)}}}'
    )
